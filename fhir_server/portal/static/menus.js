// Menus built on <details data-menu> (the account menu, Download): Escape closes the open one
// and puts focus back on its button; a click or focus outside closes it; opening one closes
// the others. Without JavaScript they still open and close with their button.
(function () {
  "use strict";
  function menus() { return document.querySelectorAll("details[data-menu][open]"); }
  function close(menu, refocus) {
    menu.open = false;
    if (refocus) { menu.querySelector("summary").focus(); }
  }
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") { return; }
    menus().forEach(function (menu) { close(menu, true); });
  });
  function outside(event) {
    menus().forEach(function (menu) {
      if (!menu.contains(event.target)) { close(menu, false); }
    });
  }
  document.addEventListener("click", outside);
  document.addEventListener("focusin", outside);
})();
