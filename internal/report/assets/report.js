// Sorting and filtering of the findings, without a server. The state is
// kept in the address's fragment (#sort=...&sev=...&det=...&q=...), so a
// link opens the same view. Without this script every finding is shown.
(function () {
  "use strict";
  var list = document.getElementById("findings");
  var controls = document.getElementById("controls");
  if (!list || !controls) { return; }
  var items = Array.prototype.slice.call(list.querySelectorAll("section.finding"));
  var text = items.map(function (el) { return el.textContent.toLowerCase(); });
  items.forEach(function (el, i) { el.setAttribute("data-order", String(i)); });
  var sortSel = document.getElementById("sort");
  var det = document.getElementById("detector");
  var q = document.getElementById("q");
  var sevs = Array.prototype.slice.call(controls.querySelectorAll("input[name=sev]"));
  var shown = document.getElementById("shown");

  function num(el, k) { return parseFloat(el.getAttribute(k)) || 0; }
  function str(el, k) { return el.getAttribute(k) || ""; }
  function cmpStr(a, b) { return a < b ? -1 : a > b ? 1 : 0; }
  var sorts = {
    severity: function (a, b) { return num(b, "data-sev") - num(a, "data-sev") || cmpStr(str(a, "data-time"), str(b, "data-time")); },
    time: function (a, b) { return cmpStr(str(a, "data-time"), str(b, "data-time")); },
    "time-desc": function (a, b) { return cmpStr(str(b, "data-time"), str(a, "data-time")); },
    confidence: function (a, b) { return num(b, "data-confidence") - num(a, "data-confidence") || num(b, "data-sev") - num(a, "data-sev"); }
  };

  function apply(save) {
    var by = sorts[sortSel.value] || sorts.severity;
    items.slice().sort(function (a, b) { return by(a, b) || num(a, "data-order") - num(b, "data-order"); })
      .forEach(function (el) { list.appendChild(el); });
    var want = {};
    sevs.forEach(function (b) { if (b.checked) { want[b.value] = true; } });
    var d = det.value, needle = q.value.trim().toLowerCase(), n = 0;
    items.forEach(function (el, i) {
      var ok = want[str(el, "data-severity")] === true &&
        (d === "" || (" " + str(el, "data-detectors") + " ").indexOf(" " + d + " ") >= 0) &&
        (needle === "" || text[i].indexOf(needle) >= 0);
      el.hidden = !ok;
      if (ok) { n++; }
    });
    shown.textContent = n + " of " + items.length;
    if (save) {
      var p = new URLSearchParams();
      if (sortSel.value !== "severity") { p.set("sort", sortSel.value); }
      var off = sevs.filter(function (b) { return !b.checked; });
      if (off.length) { p.set("sev", sevs.filter(function (b) { return b.checked; }).map(function (b) { return b.value; }).join(",")); }
      if (d) { p.set("det", d); }
      if (needle) { p.set("q", q.value.trim()); }
      try { history.replaceState(null, "", "#" + p.toString()); } catch (e) { /* file: URLs in some browsers */ }
    }
  }

  function load() {
    var p = new URLSearchParams(location.hash.replace(/^#/, ""));
    sortSel.value = "severity";
    det.value = "";
    q.value = "";
    sevs.forEach(function (b) { b.checked = true; });
    if (p.has("sort") && sorts[p.get("sort")]) { sortSel.value = p.get("sort"); }
    if (p.has("sev")) {
      var on = p.get("sev").split(",");
      sevs.forEach(function (b) { b.checked = on.indexOf(b.value) >= 0; });
    }
    if (p.has("det")) {
      var v = p.get("det");
      for (var i = 0; i < det.options.length; i++) { if (det.options[i].value === v) { det.value = v; } }
    }
    if (p.has("q")) { q.value = p.get("q"); }
  }

  [sortSel, det].forEach(function (el) { el.addEventListener("change", function () { apply(true); }); });
  sevs.forEach(function (el) { el.addEventListener("change", function () { apply(true); }); });
  q.addEventListener("input", function () { apply(true); });
  window.addEventListener("hashchange", function () { load(); apply(false); });
  load();
  apply(false);
  controls.hidden = false;
  document.documentElement.setAttribute("data-report-ready", "true");
}());
