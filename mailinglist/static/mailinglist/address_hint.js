/* "Did you mean …@gmail.com?" under the signup form's email field.
 *
 * As the reader leaves the field, a common domain typo (gmial.con) is offered back corrected as a
 * button that fills the field in. It is only a hint: the form submits whatever is typed, and the
 * server's own rules (mailinglist/addresses.py) decide. The lists below are the server's
 * COMMON_DOMAINS and TLD_TYPOS (tests/mailinglist/test_addresses.py keeps them equal), and the
 * rule is the same as addresses.email_suggestion.
 */
(function () {
  "use strict";

  // Django's JavaScript catalogue (/jsi18n/<language>/), loaded before this script by our form;
  // a copy of the form on another site may lack it, and then the words stay English.
  var gettext = window.gettext || function (text) { return text; };
  var interpolate = window.interpolate || function (format, values) {
    return format.replace(/%\((\w+)\)s/g, function (all, name) { return values[name]; });
  };

  var COMMON_DOMAINS = [
    "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "yahoo.fr", "yahoo.es",
    "ymail.com", "hotmail.com", "hotmail.co.uk", "hotmail.fr", "hotmail.es", "outlook.com",
    "outlook.fr", "live.com", "msn.com", "icloud.com", "me.com", "mac.com", "aol.com",
    "protonmail.com", "proton.me", "gmx.com", "gmx.de", "gmx.net", "web.de", "mail.com",
    "orange.fr", "free.fr", "laposte.net", "comcast.net", "verizon.net", "btinternet.com"
  ];
  var TLD_TYPOS = {
    "con": "com", "cpm": "com", "cmo": "com", "ocm": "com", "vom": "com", "xom": "com",
    "comm": "com", "coom": "com", "nte": "net", "ogr": "org"
  };

  function lastPart(domain) {
    return domain.slice(domain.lastIndexOf(".") + 1);
  }

  // Levenshtein distance counting a swap of two neighbours as one edit (gmial → gmail).
  function distance(a, b) {
    var before = [], previous = [], current, i, j, cost;
    for (j = 0; j <= b.length; j++) { previous.push(j); }
    for (i = 1; i <= a.length; i++) {
      current = [i];
      for (j = 1; j <= b.length; j++) {
        cost = a[i - 1] === b[j - 1] ? 0 : 1;
        current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost);
        if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
          current[j] = Math.min(current[j], before[j - 2] + 1);
        }
      }
      before = previous;
      previous = current;
    }
    return previous[b.length];
  }

  function suggestion(email) {
    var value = email.trim();
    var at = value.lastIndexOf("@");
    if (at < 1) { return null; }
    var local = value.slice(0, at);
    var domain = value.slice(at + 1).toLowerCase();
    if (domain.indexOf(".") < 0 || COMMON_DOMAINS.indexOf(domain) >= 0) { return null; }
    var dot = domain.lastIndexOf(".");
    var tld = domain.slice(dot + 1);
    var fixed = domain.slice(0, dot) + "." + (TLD_TYPOS.hasOwnProperty(tld) ? TLD_TYPOS[tld] : tld);
    var best = "", bestDistance = 3;
    COMMON_DOMAINS.forEach(function (candidate) {
      if (lastPart(candidate) !== lastPart(fixed)) { return; }
      var d = distance(fixed, candidate);
      if (d < bestDistance) { best = candidate; bestDistance = d; }
    });
    // Short names sit close to each other (gmx.de, web.de): one slip at most for them.
    var allowed = fixed.length < 8 ? 1 : 2;
    if (best && bestDistance <= allowed) { return local + "@" + best; }
    if (fixed !== domain) { return local + "@" + fixed; }
    return null;
  }

  function attach(input) {
    if (input.hasAttribute("data-address-hint")) { return; } // the form is on the page twice
    input.setAttribute("data-address-hint", "");
    var shown = null;
    var hint = document.createElement("p");
    hint.className = "address-hint";
    hint.setAttribute("role", "status");
    hint.setAttribute("aria-live", "polite");
    hint.style.margin = "0.25rem 0 0";
    var anchor = input.parentNode.querySelector('[data-errors-for="email"]') || input;
    anchor.parentNode.insertBefore(hint, anchor.nextSibling);

    function clear() { hint.textContent = ""; shown = null; }

    function offer() {
      var suggested = suggestion(input.value);
      // Rebuilt only when it changes: a click on the button blurs the field first, and a new
      // button under the pointer would swallow that click.
      if (suggested === shown) { return; }
      clear();
      if (!suggested) { return; }
      shown = suggested;
      var button = document.createElement("button");
      button.type = "button"; // a hint, never a second way to submit
      button.className = "address-hint-button";
      // never innerHTML: echoes input. On a right-to-left page the address is isolated
      // (U+2068…U+2069), so it reads left to right inside the sentence.
      var rtl = document.documentElement.dir === "rtl";
      var address = rtl ? "\u2068" + suggested + "\u2069" : suggested;
      button.textContent = interpolate(gettext("Did you mean %(address)s?"), { address: address }, true);
      button.style.cssText = "background:none;border:0;padding:0;font:inherit;color:inherit;" +
        "text-decoration:underline;cursor:pointer";
      button.addEventListener("click", function () {
        input.value = suggested;
        input.dispatchEvent(new Event("input", { bubbles: true }));
        clear();
        input.focus();
      });
      hint.appendChild(button);
    }

    input.addEventListener("blur", offer);
    input.addEventListener("input", function () {
      if (shown !== null && suggestion(input.value) !== shown) { clear(); }
    });
  }

  function init() {
    document.querySelectorAll("form[data-newsletter-signup] input[name=email]").forEach(attach);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
