// The lab list: a link to a test (from "Outside the reference range") opens its row; a long
// history shows its newest rows with "Show all" for the rest. Without JavaScript every row shows.
(function () {
  "use strict";
  function openTarget() {
    var id = decodeURIComponent(location.hash.slice(1));
    var row = id && document.getElementById(id);
    if (!row || !row.matches("details.lab")) { return; }
    var older = row.closest("details.older-results");
    if (older) { older.open = true; }
    row.open = true;
    row.querySelector("summary").focus();
  }
  function shorten(table) {
    var keep = parseInt(table.getAttribute("data-show"), 10) || 10;
    var rows = table.tBodies[0].rows;
    if (rows.length <= keep + 2) { return; }  // hiding one or two rows helps no one
    for (var i = keep; i < rows.length; i++) { rows[i].hidden = true; }
    var button = document.createElement("button");
    button.type = "button";
    button.className = "button small secondary show-more";
    button.textContent = "Show all " + rows.length + " results";
    button.addEventListener("click", function () {
      for (var j = keep; j < rows.length; j++) { rows[j].hidden = false; }
      button.remove();
      rows[keep].querySelector("td").setAttribute("tabindex", "-1");
      rows[keep].querySelector("td").focus();
    });
    table.after(button);
  }
  function start() {
    document.querySelectorAll("table.history[data-show]").forEach(shorten);
    openTarget();
    window.addEventListener("hashchange", openTarget);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
