// The recipient's SMART Health Link viewer. The link's key is read from the URL fragment (never
// sent to the server); the manifest answers only to the right password; the file is a JWE
// (alg "dir", enc "A256GCM", optional zip "DEF") decrypted here with WebCrypto.
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var RECIPIENT = "Recipient of an emailed link (CareSpace viewer)";
  // The sender's note travels in the encrypted Bundle as a Communication of this category (shl/bundle.py).
  var NOTE_SYSTEM = "https://carespace.dev/fhir/CodeSystem/shared-record";
  var payload = null;
  var bundle = null;

  function b64urlBytes(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) { b64 += "="; }
    var raw = atob(b64), out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { out[i] = raw.charCodeAt(i); }
    return out;
  }

  function show(id) {
    ["no-link", "refused", "unlock", "summary"].forEach(function (s) { $(s).hidden = s !== id; });
  }

  function refuse(message) {
    $("refused-message").textContent = message;
    show("refused");
  }

  function readLink() {
    var hash = decodeURIComponent(window.location.hash || "");
    var at = hash.indexOf("shlink:/");
    if (at < 0) { return null; }
    try {
      var data = JSON.parse(new TextDecoder().decode(b64urlBytes(hash.slice(at + 8))));
      return data && data.url && data.key ? data : null;
    } catch (e) { return null; }
  }

  async function decrypt(jwe, keyText) {
    var parts = jwe.split(".");
    if (parts.length !== 5) { throw new Error("not a compact JWE"); }
    var header = JSON.parse(new TextDecoder().decode(b64urlBytes(parts[0])));
    if (header.alg !== "dir" || header.enc !== "A256GCM") { throw new Error("unsupported JWE"); }
    var key = await crypto.subtle.importKey("raw", b64urlBytes(keyText), { name: "AES-GCM" }, false, ["decrypt"]);
    var ct = b64urlBytes(parts[3]), tag = b64urlBytes(parts[4]);
    var sealed = new Uint8Array(ct.length + tag.length);
    sealed.set(ct); sealed.set(tag, ct.length);
    var plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: b64urlBytes(parts[2]),
      additionalData: new TextEncoder().encode(parts[0]), tagLength: 128 }, key, sealed);
    if (header.zip === "DEF") {
      var stream = new Blob([plain]).stream().pipeThrough(new DecompressionStream("deflate-raw"));
      plain = await new Response(stream).arrayBuffer();
    }
    return new TextDecoder().decode(plain);
  }

  // -- reading the Bundle --------------------------------------------------------------------
  function text(concept) {
    if (!concept) { return ""; }
    if (concept.text) { return concept.text; }
    var c = (concept.coding || [])[0] || {};
    return c.display || c.code || "";
  }
  // The portal's one date style, in the reader's zone (static/local-time.js).
  function day(value) { return window.CareSpaceTime.day(value); }
  // UCUM units as lab reports print them (the portal's portal/units.py, in short).
  var SUPER = { "0": "⁰", "1": "¹", "2": "²", "3": "³", "4": "⁴", "5": "⁵", "6": "⁶", "7": "⁷", "8": "⁸", "9": "⁹", "-": "⁻" };
  function unit(u) {
    if (!u || u === "1" || u === "{count}") { return ""; }
    return u.replace(/(^|[^\w.])10[*^Ee](-?\d+)/g, function (_, before, p) {
      return before + "×10" + p.split("").map(function (c) { return SUPER[c]; }).join("");
    }).replace(/(^|[^A-Za-z])u(?=(g|L|l|mol|IU|\[IU\]|kat|m|eq)\b|mol|IU|\[IU\])/g, "$1µ")
      .replace(/\[([^\]]+)\]/g, "$1").replace(/\{([^}]*)\}/g, function (_, a) { return a.replace(/_/g, " "); });
  }
  function quantity(q) { return q ? [q.comparator || "", q.value, unit(q.unit || q.code || "")].join(" ").trim() : ""; }
  function result(o) {
    if (o.valueQuantity) { return quantity(o.valueQuantity); }
    if (o.valueString) { return o.valueString; }
    if (o.valueCodeableConcept) { return text(o.valueCodeableConcept); }
    if (o.valueBoolean !== undefined) { return o.valueBoolean ? "Yes" : "No"; }
    if (o.dataAbsentReason) { return text(o.dataAbsentReason); }
    // A panel such as blood pressure has its values in components ("Systolic 118 mmHg · Diastolic 76 mmHg").
    return (o.component || []).map(function (c) { return (text(c.code) + " " + result(c)).trim(); })
      .filter(Boolean).join(" · ");
  }
  function range(o) {
    var r = (o.referenceRange || [])[0];
    if (!r) { return ""; }
    return r.text ? unit(r.text) : [quantity(r.low), quantity(r.high)].filter(Boolean).join(" – ");
  }
  function flag(o) {
    var code = (((o.interpretation || [])[0] || {}).coding || [{}])[0].code;
    return { H: "High", HH: "Very high", L: "Low", LL: "Very low", A: "Abnormal", AA: "Critical" }[code] || "";
  }
  function el(tag, className, content) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (content !== undefined) { node.textContent = content; }
    return node;
  }
  function download(name, type, bytes) {
    var url = URL.createObjectURL(new Blob([bytes], { type: type }));
    var a = el("a");
    a.href = url; a.download = name;
    document.body.appendChild(a); a.click(); a.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
  }
  function safeName(text) { return (text || "document").replace(/[^\w.-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 80) || "document"; }
  var EXT = { "application/pdf": ".pdf", "text/plain": ".txt", "text/html": ".html", "image/png": ".png", "image/jpeg": ".jpg" };

  // -- the record sections: problems, medications, allergies, vitals, immunizations, visits, care team
  function code(concept) { return ((concept || {}).coding || [{}])[0].code || (concept || {}).text || ""; }
  function isVital(o) {
    return (o.category || []).some(function (c) { return (c.coding || []).some(function (x) { return x.code === "vital-signs"; }); });
  }
  function words(value) { return value ? (value.charAt(0).toUpperCase() + value.slice(1)).replace(/-/g, " ") : ""; }
  function fill(id, rows) {
    var body = $(id).querySelector("tbody");
    rows.forEach(function (cells) {
      var row = el("tr");
      cells.forEach(function (cell) { row.appendChild(el("td", "", cell || "—")); });
      body.appendChild(row);
    });
    $(id + "-section").hidden = rows.length === 0;
  }
  function newest(field) { return function (a, b) { return (field(b) || "").localeCompare(field(a) || ""); }; }
  function dosage(r) {
    return (r.dosageInstruction || r.dosage || []).map(function (d) {
      return [d.text || (((d.doseAndRate || [])[0] || {}).doseQuantity ? quantity(d.doseAndRate[0].doseQuantity) : ""),
              d.patientInstruction].filter(Boolean).join(" · ");
    }).filter(Boolean).join("; ");
  }
  function renderRecord(of) {
    fill("problems", of("Condition").map(function (c) {
      return [text(c.code), text(c.clinicalStatus) || words(code(c.clinicalStatus)),
              day(c.onsetDateTime || (c.onsetPeriod || {}).start) || c.onsetString, (c.recorder || c.asserter || {}).display];
    }));
    fill("medications", of("MedicationRequest").concat(of("MedicationStatement")).map(function (m) {
      return [text(m.medicationCodeableConcept) || (m.medicationReference || {}).display, dosage(m), words(m.status),
              day(m.authoredOn || m.effectiveDateTime || (m.effectivePeriod || {}).start)];
    }));
    fill("allergies", of("AllergyIntolerance").map(function (a) {
      var reactions = (a.reaction || []).map(function (r) {
        var signs = (r.manifestation || []).map(text).join(", ");
        return r.severity ? signs + " (" + r.severity + ")" : signs;
      }).join("; ");
      return [text(a.code), reactions, { high: "High risk", low: "Low risk", "unable-to-assess": "Not assessed" }[a.criticality],
              text(a.clinicalStatus) || words(code(a.clinicalStatus))];
    }));
    var vitals = [];
    of("Observation").filter(isVital).sort(newest(function (o) { return o.effectiveDateTime; })).forEach(function (o) {
      var parts = o.component && !o.valueQuantity ? o.component : [o];
      parts.forEach(function (p) { vitals.push([day(o.effectiveDateTime), text(p.code), result(p)]); });
    });
    fill("vitals", vitals);
    fill("immunizations", of("Immunization").sort(newest(function (i) { return i.occurrenceDateTime; })).map(function (i) {
      var applied = (i.protocolApplied || [])[0] || {};
      return [day(i.occurrenceDateTime), text(i.vaccineCode) + (i.status === "not-done" ? " (not given)" : ""),
              applied.doseNumberPositiveInt ? "Dose " + applied.doseNumberPositiveInt : ""];
    }));
    fill("visits", of("Encounter").sort(newest(function (e) { return (e.period || {}).start; })).map(function (e) {
      return [day((e.period || {}).start), (e.type || []).map(text).filter(Boolean)[0] || (e.class || {}).display || "Visit",
              (e.participant || []).map(function (p) { return (p.individual || {}).display; }).filter(Boolean).join(", "),
              (e.reasonCode || []).map(text).join(", ")];
    }));
    var members = [];
    of("CareTeam").forEach(function (t) {
      (t.participant || []).forEach(function (p) {
        if ((p.member || {}).display) { members.push([p.member.display, (p.role || []).map(text).join(", "), (p.onBehalfOf || {}).display]); }
      });
    });
    fill("care-team", members);
  }

  function render() {
    var all = (bundle.entry || []).map(function (e) { return e.resource || {}; });
    var of = function (type) { return all.filter(function (r) { return r.resourceType === type; }); };
    var patient = of("Patient")[0] || {};
    var name = (patient.name || [])[0] || {};
    $("patient-name").textContent = name.text || [].concat(name.given || [], [name.family || ""]).join(" ").trim() || "Patient";
    $("patient-facts").textContent = patient.birthDate ? "Date of birth: " + patient.birthDate : "";
    $("period").textContent = payload.label || "";

    renderRecord(of);
    var labs = of("Observation").filter(function (o) { return !isVital(o); }).sort(function (a, b) { return (b.effectiveDateTime || "").localeCompare(a.effectiveDateTime || ""); });
    var body = $("labs").querySelector("tbody");
    labs.forEach(function (o) {
      var row = el("tr");
      row.appendChild(el("td", "", day(o.effectiveDateTime || (o.effectivePeriod || {}).start)));
      row.appendChild(el("td", "", text(o.code)));
      var cell = el("td", "", result(o));
      var f = flag(o);
      if (f) { cell.appendChild(document.createTextNode(" ")); cell.appendChild(el("span", "flag", f)); }
      row.appendChild(cell);
      row.appendChild(el("td", "", range(o)));
      body.appendChild(row);
    });
    $("labs").hidden = labs.length === 0;
    $("labs-empty").hidden = labs.length > 0;

    var reports = of("DiagnosticReport");
    reports.forEach(function (r) {
      var li = el("li"), info = el("div");
      info.appendChild(el("span", "doc-title", text(r.code)));
      info.appendChild(el("span", "doc-meta", [day(r.effectiveDateTime || r.issued), r.conclusion].filter(Boolean).join(" · ")));
      li.appendChild(info);
      $("reports").appendChild(li);
    });
    $("reports-section").hidden = reports.length === 0;

    var docs = of("DocumentReference").sort(function (a, b) { return (b.date || "").localeCompare(a.date || ""); });
    docs.forEach(function (d) {
      var li = el("li"), info = el("div");
      var title = d.description || text(d.type) || "Document";
      info.appendChild(el("span", "doc-title", title));
      var author = ((d.author || [])[0] || {}).display;
      info.appendChild(el("span", "doc-meta", [day(d.date), text(d.type) !== title ? text(d.type) : "", author].filter(Boolean).join(" · ")));
      li.appendChild(info);
      (d.content || []).forEach(function (c) {
        var att = c.attachment || {};
        if (!att.data) { return; }
        var button = el("button", "button ghost", "Download");
        button.type = "button";
        button.setAttribute("aria-label", "Download " + title);
        button.addEventListener("click", function () {
          var type = att.contentType || "application/octet-stream";
          download(safeName(att.title || title) + (EXT[type] || ""), type, b64urlBytes(att.data));
        });
        li.appendChild(button);
      });
      $("docs").appendChild(li);
    });
    $("docs-empty").hidden = docs.length > 0;

    var isNote = function (m) {
      return (m.category || []).some(function (c) {
        return (c.coding || []).some(function (x) { return x.system === NOTE_SYSTEM && x.code === "note"; });
      });
    };
    var note = of("Communication").filter(isNote)[0];
    if (note) {
      $("note-from").textContent = [(note.sender || {}).display, day(note.sent)].filter(Boolean).join(" · ");
      $("note-body").textContent = (note.payload || []).map(function (p) { return p.contentString || ""; }).join("\n");
      $("note-section").hidden = false;
    }
    var messages = of("Communication").filter(function (m) { return !isNote(m); }).sort(function (a, b) { return (b.sent || "").localeCompare(a.sent || ""); });
    messages.forEach(function (m) {
      var li = el("li");
      li.appendChild(el("div", "msg-subject", (m.topic && m.topic.text) || "Message"));
      li.appendChild(el("div", "msg-meta", [day(m.sent), (m.sender || {}).display && "from " + m.sender.display].filter(Boolean).join(" · ")));
      li.appendChild(el("p", "msg-body", (m.payload || []).map(function (p) { return p.contentString || ""; }).join("\n")));
      $("messages").appendChild(li);
    });
    $("messages-empty").hidden = messages.length > 0;
    show("summary");
    $("patient-name").focus();
  }

  // A refused password: the message (role=alert) is tied to the field, which gets the focus
  // back, empty, to type again.
  function unlockError(text) {
    var error = $("unlock-error"), field = $("passcode");
    error.textContent = text;
    error.hidden = false;
    field.setAttribute("aria-invalid", "true");
    field.setAttribute("aria-describedby", "unlock-error");
    field.value = "";
    field.focus();
  }

  // -- the manifest --------------------------------------------------------------------------
  async function open(passcode) {
    var response = await fetch(payload.url, { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ recipient: RECIPIENT, passcode: passcode }), credentials: "omit" });
    var answer = {};
    try { answer = await response.json(); } catch (e) { answer = {}; }
    if (response.status === 401) {
      if (!answer.remainingAttempts) { refuse(answer.message || "This link is locked after too many wrong passwords. Ask the patient to send the record again."); return; }
      unlockError("That password is not right. " + answer.remainingAttempts + " attempt" + (answer.remainingAttempts === 1 ? "" : "s") + " left before the link locks.");
      return;
    }
    if (!response.ok) { refuse(answer.message || "This link cannot be opened. Ask the patient to send the record again."); return; }
    var file = (answer.files || []).filter(function (f) { return (f.contentType || "").indexOf("application/fhir+json") === 0; })[0];
    if (!file) { refuse("The link holds no record this page can show."); return; }
    var jwe = file.embedded || await (await fetch(file.location, { credentials: "omit" })).text();
    bundle = JSON.parse(await decrypt(jwe, payload.key));
    render();
  }

  $("download-bundle").addEventListener("click", function () {
    download("health-record.json", "application/fhir+json", new TextEncoder().encode(JSON.stringify(bundle, null, 2)));
  });

  $("unlock-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var passcode = $("passcode").value;
    if (!passcode) { unlockError("Enter the password the patient gave you."); return; }
    var button = $("unlock-button");
    button.disabled = true; button.textContent = "Opening…";
    open(passcode).catch(function () {
      unlockError("The record could not be opened. Check your connection and try again.");
    }).finally(function () { button.disabled = false; button.textContent = "Open record"; });
  });

  payload = readLink();
  $("patient-name").tabIndex = -1;
  if (!payload) { show("no-link"); return; }
  if (payload.exp && payload.exp * 1000 < Date.now()) { refuse("This link has expired. Ask the patient to send the record again."); return; }
  $("label").textContent = payload.label || "";
  show("unlock");
  if ((payload.flag || "").indexOf("P") < 0) { open(""); } else { $("passcode").focus(); }
})();
