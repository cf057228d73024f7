// Times in the reader's own time zone, in the style the server writes ("Jun 16, 2026" and
// "Jun 16, 2026, 3:30 PM"): the server renders them in the practice's zone, and this
// re-writes every <time data-local> from its datetime attribute. The Send Record viewer
// formats the dates of the record it decrypts with the same functions.
(function () {
  "use strict";
  var parts = function (options) {
    var format = new Intl.DateTimeFormat("en-US", options);
    return function (d) {
      var out = {};
      format.formatToParts(d).forEach(function (p) { out[p.type] = p.value; });
      return out;
    };
  };
  var dayParts = parts({ year: "numeric", month: "short", day: "numeric" });
  var timeParts = parts({ hour: "numeric", minute: "2-digit", hour12: true });
  var plainDay = parts({ year: "numeric", month: "short", day: "numeric", timeZone: "UTC" });

  function dayText(p) { return p.month + " " + p.day + ", " + p.year; }

  // A FHIR date ("2026-06-16") is a calendar day: never shifted by a zone.
  function isPlainDate(value) { return /^\d{4}(-\d{2}(-\d{2})?)?$/.test(value); }

  function day(value) {
    if (!value) { return ""; }
    if (/^\d{4}$/.test(value)) { return value; }
    if (/^\d{4}-\d{2}$/.test(value)) {
      var m = plainDay(new Date(value + "-01T00:00:00Z"));
      return m.month + " " + m.year;
    }
    var d = new Date(value);
    if (isNaN(d)) { return value; }
    return dayText(isPlainDate(value) ? plainDay(d) : dayParts(d));
  }

  function moment(value) {
    if (!value || isPlainDate(value)) { return day(value); }
    var d = new Date(value);
    if (isNaN(d)) { return value; }
    var t = timeParts(d);
    return dayText(dayParts(d)) + ", " + t.hour + ":" + t.minute + " " + t.dayPeriod.toUpperCase();
  }

  window.CareSpaceTime = { day: day, moment: moment };

  function rewrite() {
    document.querySelectorAll("time[data-local]").forEach(function (el) {
      var value = el.getAttribute("datetime");
      var text = el.getAttribute("data-local") === "moment" ? moment(value) : day(value);
      if (text) { el.textContent = text; }
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", rewrite);
  } else {
    rewrite();
  }
})();
