// Shows, as the person types, which password rules are met. The server checks the same rules.
(function () {
  "use strict";
  var password = document.getElementById("password");
  var confirm = document.getElementById("password_confirm");
  var list = document.getElementById("rules");
  if (!password || !confirm || !list) { return; }
  var checks = {
    length: function (p) { return p.length >= 8; },
    upper: function (p) { return /\p{Lu}/u.test(p); },
    lower: function (p) { return /\p{Ll}/u.test(p); },
    digit: function (p) { return /\p{Nd}/u.test(p); },
    special: function (p) { return /[^\p{L}\p{N}\s]/u.test(p); },
    match: function (p) { return p.length > 0 && p === confirm.value; }
  };
  list.classList.add("live");
  function update() {
    var p = password.value;
    Array.prototype.forEach.call(list.querySelectorAll("li[data-rule]"), function (item) {
      var ok = checks[item.getAttribute("data-rule")](p);
      item.classList.toggle("met", ok);
      item.querySelector(".rule-state").textContent = ok ? " (met)" : " (not yet)";
    });
  }
  password.addEventListener("input", update);
  confirm.addEventListener("input", update);
  update();
})();
