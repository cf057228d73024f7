// After a refused form, focus moves to its error summary so that a screen reader reads what
// went wrong and a keyboard user starts from there; each message in it moves focus to its field.
// Every password field gets a "Show" toggle (a pressed button: the password is visible).
(function () {
  "use strict";
  // One toggle per form, on its first password field, showing every password field of the form
  // (a new password and its confirmation are read together). Its name stays "Show password";
  // aria-pressed says whether the passwords are visible.
  function addToggle(input) {
    var scope = input.form || document;
    var fields = Array.prototype.slice.call(scope.querySelectorAll("input[type=password]"));
    var button = document.createElement("button");
    button.type = "button";
    button.className = "show-password";
    // Named by its content, not aria-label: "Show" on screen, "Show password" to a screen reader.
    button.innerHTML = 'Show<span class="visually-hidden"> password</span>';
    button.setAttribute("aria-pressed", "false");
    button.setAttribute("aria-controls", fields.map(function (f) { return f.id; }).join(" "));
    button.addEventListener("click", function () {
      var show = button.getAttribute("aria-pressed") !== "true";
      fields.forEach(function (f) { f.type = show ? "text" : "password"; });
      button.setAttribute("aria-pressed", show ? "true" : "false");
    });
    var wrap = document.createElement("div");
    wrap.className = "password-wrap";
    input.parentNode.insertBefore(wrap, input);
    wrap.appendChild(input);
    wrap.appendChild(button);
    // A shown password goes back to a password field before the form is sent (and restored).
    if (input.form) {
      input.form.addEventListener("submit", function () { fields.forEach(function (f) { f.type = "password"; }); });
    }
  }
  function start() {
    var seen = [];
    document.querySelectorAll("input[type=password][id]").forEach(function (input) {
      var scope = input.form || document;
      if (seen.indexOf(scope) < 0) { seen.push(scope); addToggle(input); }
    });
    var summary = document.querySelector("[data-error-summary]");
    if (!summary) { return; }
    summary.focus();
    summary.addEventListener("click", function (event) {
      var link = event.target.closest("a[href^='#']");
      var field = link && document.getElementById(link.getAttribute("href").slice(1));
      if (!field) { return; }
      event.preventDefault();
      field.focus();
      field.scrollIntoView({ block: "center" });
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
