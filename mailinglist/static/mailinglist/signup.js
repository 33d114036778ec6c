/* Progressive enhancement of the newsletter signup form (our footer form, /subscribe/, the embed).
 *
 * Without JavaScript the form posts and the server answers with a page: the thank-you page, or
 * first a "Yes, subscribe me" button when the form proves nothing about its sender. With it:
 * - a fresh time token is fetched on load (the page may come from a cache, with an old one);
 * - the form posts in place (FormData to the form's action, or JSON to the API for old snippets
 *   marked data-api), with no cookies, and the answer is shown without a reload;
 * - field errors are attached to their fields so screen readers announce them;
 * - a "one more step" answer shows the same button in place;
 * - the success message is scrolled into view and focused, so a phone shows it.
 */
(function () {
  "use strict";

  // Django's JavaScript catalogue (/jsi18n/<language>/), loaded before this script by our form;
  // a copy of the form on another site may lack it, and then these fallbacks stay English (the
  // server's own answers, body.message and body.detail, are in the reader's language anyway).
  var gettext = window.gettext || function (text) { return text; };

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

  function payload(form, extra) {
    if (!form.hasAttribute("data-api")) {
      var formData = new FormData(form);
      Object.keys(extra).forEach(function (key) { formData.set(key, extra[key]); });
      return formData;
    }
    var data = { email: "", name: "", lists: [], website: "", form_token: "" };
    new FormData(form).forEach(function (value, key) {
      if (key === "lists") { data.lists.push(value); }
      else if (key in data) { data[key] = value; }
    });
    return JSON.stringify(data);
  }

  function tokenInput(form) {
    var input = form.querySelector('input[name="form_token"]');
    if (!input) {
      input = document.createElement("input");
      input.type = "hidden";
      input.name = "form_token";
      form.appendChild(input);
    }
    return input;
  }

  // The page may have been cached for hours: ask for a token of our own (never cached). If this
  // fails, the rendered token stays, and the server asks for one more step if it must.
  function refreshToken(form) {
    var url = form.getAttribute("data-token-url");
    if (!url) { return; }
    fetch(url, { credentials: "omit", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : {}; })
      .then(function (body) { if (body.form_token) { tokenInput(form).value = body.form_token; } })
      .catch(function () {});
  }

  function show(status, text, kind) {
    status.classList.remove("is-error", "is-success");
    if (kind) { status.classList.add(kind); }
    status.textContent = text;
  }

  // Focus moves to the answer (screen readers read it, the browser scrolls it into view): on a
  // phone the status line sits below the button, often off the bottom of the screen.
  function reveal(element) {
    if (!element.hasAttribute("tabindex")) { element.setAttribute("tabindex", "-1"); }
    element.scrollIntoView({ block: "center" });
    element.focus({ preventScroll: true });
  }

  function enhance(form) {
    var status = form.querySelector("[data-signup-status]");
    var button = form.querySelector("button[type=submit]");
    var stepButton = null;

    function removeStep() {
      if (stepButton) { stepButton.remove(); stepButton = null; }
    }

    function offerStep(body) {
      removeStep();
      show(status, body.detail || gettext("One more step."), null);
      stepButton = document.createElement("button");
      stepButton.type = "button";
      stepButton.className = button.className || "signup-button";
      stepButton.textContent = gettext("Yes, subscribe me");
      stepButton.setAttribute("data-signup-step", "");
      stepButton.addEventListener("click", function () {
        send({ step_token: body.step_token || "" });
      });
      status.insertAdjacentElement("afterend", stepButton);
      stepButton.focus();
    }

    function send(extra) {
      var isApi = form.hasAttribute("data-api");
      var headers = { Accept: "application/json" };
      if (isApi) { headers["Content-Type"] = "application/json"; }
      button.disabled = true;
      if (stepButton) { stepButton.disabled = true; }
      show(status, gettext("Sending…"), null);
      fetch(form.getAttribute("data-endpoint") || form.action, {
        method: "POST",
        body: payload(form, extra),
        headers: headers,
        // No cookies: the signup needs none, and the form may sit on another site.
        credentials: "omit"
      }).then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (body) {
          if (response.ok && body.step) {
            offerStep(body);
          } else if (response.ok) {
            removeStep();
            setErrors(form, {});
            form.reset();
            refreshToken(form);
            show(status, body.message || gettext("Thanks!"), "is-success");
            reveal(status);
          } else {
            removeStep();
            setErrors(form, body.errors || {});
            show(status, body.detail || gettext("Something went wrong. Please try again."), "is-error");
            if (!body.errors) { reveal(status); }
          }
        });
      }).catch(function () {
        show(status, gettext("We couldn't reach the server. Check your connection and try again."), "is-error");
        reveal(status);
      }).finally(function () {
        button.disabled = false;
        if (stepButton) { stepButton.disabled = false; }
      });
    }

    refreshToken(form);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      send({});
    });
  }

  function start() {
    document.querySelectorAll("form[data-newsletter-signup]").forEach(enhance);
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); }
  else { start(); }
})();
