/* The digest page: live delivery progress, and the Markdown intro's preview beside its box. */
(function () {
  "use strict";

  // Django's JavaScript catalogue (/jsi18n/<language>/), loaded before this script by the digest
  // page; without it these words stay English. The progress line comes translated from the server.
  var gettext = window.gettext || function (text) { return text; };

  function csrfToken() {
    var field = document.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  /* Live progress: poll while the digest is (or is about to be) going out. When its state
     changes the page reloads, so the buttons shown are the ones that now apply. */
  function watchProgress() {
    var desk = document.getElementById("digest-desk");
    if (!desk || !desk.dataset.progressUrl) { return; }
    var shownState = desk.dataset.state;
    var bar = document.getElementById("delivery-bar");
    var text = document.getElementById("delivery-text");
    function update() {
      fetch(desk.dataset.progressUrl, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (response) {
          if (!response.ok) { throw new Error("progress " + response.status); }
          return response.json();
        })
        .then(function (data) {
          if (data.state !== shownState) { window.location.reload(); return; }
          if (bar) { bar.max = Math.max(1, data.counts.total); bar.value = data.done; }
          if (text) { text.textContent = data.text; }
          if (data.state === "sending" || data.state === "scheduled") { setTimeout(update, 2000); }
        })
        .catch(function () { setTimeout(update, 5000); });
    }
    update();
  }

  /* The intro is Markdown: show it as readers will see it (rendered and cleaned by the server,
     with the same code that renders the digest). */
  function previewMarkdown() {
    var script = document.getElementById("digest-desk-script");
    var url = script && script.dataset.introPreviewUrl;
    var boxes = document.querySelectorAll("textarea[data-markdown-preview]");
    if (!url) { return; }
    boxes.forEach(function (box) {
      var preview = box.parentNode.querySelector(".markdown-preview");
      if (!preview) { return; }
      var timer = null;
      function render() {
        var body = new FormData();
        body.append("text", box.value);
        fetch(url, {method: "POST", body: body, credentials: "same-origin",
                    headers: {"X-CSRFToken": csrfToken()}})
          .then(function (response) { return response.ok ? response.json() : {html: ""}; })
          .then(function (data) {
            if (data.html) {
              // Cleaned by the server's allow-list (nh3), the same HTML the digest will carry.
              preview.innerHTML = data.html;
              return;
            }
            // A translation is text, not markup: set as text.
            var empty = document.createElement("p");
            empty.className = "markdown-empty";
            empty.textContent = gettext("The intro preview appears here.");
            preview.replaceChildren(empty);
          });
      }
      box.addEventListener("input", function () {
        clearTimeout(timer);
        timer = setTimeout(render, 300);
      });
      render();
    });
  }

  function start() {
    watchProgress();
    previewMarkdown();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
