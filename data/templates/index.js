/*
 * quickpage index: search by name and filter by region, side and ROI tag.
 * Works from file:// with no network: everything it needs is in the rows'
 * data- attributes (data-name, data-sides, data-tags as a JSON array).
 */
(function () {
  "use strict";

  var q = document.getElementById("q");
  var fRegion = document.getElementById("f-region");
  var fSide = document.getElementById("f-side");
  var fTag = document.getElementById("f-tag");
  var shown = document.getElementById("shown");
  var none = document.getElementById("none");
  var groups = [];
  var total = 0;
  var timer = 0;

  function tagsOf(tr) {
    try {
      return JSON.parse(tr.getAttribute("data-tags") || "[]");
    } catch (e) {
      return [];
    }
  }

  /* Read the rows once; filtering then touches no attributes. */
  function collect() {
    var secs = document.querySelectorAll("section.group");
    for (var i = 0; i < secs.length; i++) {
      var trs = secs[i].querySelectorAll("tbody tr");
      var g = {
        el: secs[i],
        id: secs[i].getAttribute("data-group"),
        count: secs[i].querySelector(".g-count"),
        rows: []
      };
      for (var j = 0; j < trs.length; j++) {
        g.rows.push({
          el: trs[j],
          name: (trs[j].getAttribute("data-name") || "").toLowerCase(),
          sides: trs[j].getAttribute("data-sides") || "",
          tags: tagsOf(trs[j]),
          shown: true
        });
      }
      total += g.rows.length;
      groups.push(g);
    }
  }

  function matches(r, terms, side, tag) {
    for (var i = 0; i < terms.length; i++)
      if (r.name.indexOf(terms[i]) < 0)
        return false;
    if (side && r.sides.indexOf(side) < 0)
      return false;
    if (tag && r.tags.indexOf(tag) < 0)
      return false;
    return true;
  }

  function apply() {
    var terms = q.value.toLowerCase().split(/\s+/).filter(Boolean);
    var region = fRegion ? fRegion.value : "";
    var side = fSide ? fSide.value : "";
    var tag = fTag ? fTag.value : "";
    var n = 0;

    for (var i = 0; i < groups.length; i++) {
      var g = groups[i], k = 0;
      var inRegion = !region || g.id === region;
      for (var j = 0; j < g.rows.length; j++) {
        var r = g.rows[j];
        var on = inRegion && matches(r, terms, side, tag);
        if (on !== r.shown) {
          r.el.hidden = !on;
          r.shown = on;
        }
        if (on)
          k++;
      }
      g.el.hidden = k === 0;
      if (g.count)
        g.count.textContent = k === g.rows.length ? String(k) : k + " / " + g.rows.length;
      n += k;
    }
    shown.textContent = n === total ? total + " types" : n + " of " + total + " types";
    none.hidden = n !== 0;
    markTags(tag);
  }

  function markTags(tag) {
    var on = document.querySelectorAll(".tag.on");
    for (var i = 0; i < on.length; i++)
      on[i].classList.remove("on");
    if (!tag)
      return;
    var all = document.querySelectorAll("tr:not([hidden]) .tag");
    for (var j = 0; j < all.length; j++)
      if (all[j].textContent === tag)
        all[j].classList.add("on");
  }

  function later() {
    clearTimeout(timer);
    timer = setTimeout(apply, 60);
  }

  function reset() {
    q.value = "";
    if (fRegion) fRegion.value = "";
    if (fSide) fSide.value = "";
    if (fTag) fTag.value = "";
    apply();
    q.focus();
  }

  collect();
  q.addEventListener("input", later);
  [fRegion, fSide, fTag].forEach(function (s) {
    if (s) s.addEventListener("change", apply);
  });
  document.getElementById("f-reset").addEventListener("click", reset);

  /* A click on an ROI tag filters by it; a second click clears it. */
  document.getElementById("types").addEventListener("click", function (e) {
    var t = e.target;
    if (!fTag || !t.classList || !t.classList.contains("tag"))
      return;
    fTag.value = fTag.value === t.textContent ? "" : t.textContent;
    apply();
  });

  document.addEventListener("keydown", function (e) {
    if (e.key === "/" && document.activeElement !== q) {
      e.preventDefault();
      q.focus();
    } else if (e.key === "Escape" && document.activeElement === q) {
      q.value = "";
      apply();
    }
  });

  /* The browser may restore form values on back/forward. */
  if (q.value || (fRegion && fRegion.value) || (fSide && fSide.value) ||
      (fTag && fTag.value))
    apply();
})();
