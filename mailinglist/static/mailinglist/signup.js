/* Progressive enhancement of the newsletter signup form.
 *
 * Without JavaScript the form posts and the server redirects to a thank-you page. With it, the
 * same form posts in place (FormData to the form's action, or JSON to the API for the embeddable
 * snippet, marked data-api) and the answer is shown without a reload; field errors are attached
 * to their fields so screen readers announce them.
 */
(function () {
  "use strict";

  function setErrors(form, errors) {
    var first = null;
    form.querySelectorAll("[data-errors-for]").forEach(function (list) {
      var field = list.getAttribute("data-errors-for");
      var messages = (errors && errors[field]) || [];
      list.textContent = "";
      messages.forEach(function (message) {
        var item = document.createElement("li");
        item.textContent = message; // never innerHTML: messages may echo what was typed
        list.appendChild(item);
      });
      form.querySelectorAll('[name="' + field + '"]').forEach(function (input) {
        if (messages.length) {
          input.setAttribute("aria-invalid", "true");
          if (!first) { first = input; }
        } else {
          input.removeAttribute("aria-invalid");
        }
      });
    });
    if (first) { first.focus(); }
  }

  function payload(form) {
    if (!form.hasAttribute("data-api")) { return new FormData(form); }
    var data = { email: "", name: "", lists: [], website: "", form_token: "" };
    new FormData(form).forEach(function (value, key) {
      if (key === "lists") { data.lists.push(value); }
      else if (key in data) { data[key] = value; }
    });
    return JSON.stringify(data);
  }

  function enhance(form) {
    var status = form.querySelector("[data-signup-status]");
    var button = form.querySelector("button[type=submit]");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var isApi = form.hasAttribute("data-api");
      var headers = { Accept: "application/json" };
      if (isApi) { headers["Content-Type"] = "application/json"; }
      button.disabled = true;
      status.classList.remove("is-error");
      status.textContent = "Sending…";
      fetch(form.getAttribute("data-endpoint") || form.action, {
        method: "POST",
        body: payload(form),
        headers: headers,
        credentials: isApi ? "omit" : "same-origin"
      }).then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (body) {
          if (response.ok) {
            setErrors(form, {});
            form.reset();
            status.textContent = body.message || "Thanks!";
          } else {
            setErrors(form, body.errors || {});
            status.classList.add("is-error");
            status.textContent = body.detail || "Something went wrong. Please try again.";
          }
        });
      }).catch(function () {
        status.classList.add("is-error");
        status.textContent = "We couldn't reach the server. Check your connection and try again.";
      }).finally(function () {
        button.disabled = false;
      });
    });
  }

  function start() {
    document.querySelectorAll("form[data-newsletter-signup]").forEach(enhance);
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); }
  else { start(); }
})();
