/*
 * quickpage index: the rows are built here from the compact data in
 * <script id="index-data"> (docs/output.md, "index.html data"), a window
 * of PAGE rows at a time, so the page stays fast at 10,000+ types: a
 * keystroke or a filter change is one pass over the data plus one window
 * of rows, never a walk over every row of the DOM. Works from file://
 * with no network. The pure part (FlatIndex.model, .filter, .pages, .row)
 * needs no DOM, so tests run it in node.
 */
(function (root) {
  "use strict";

  var PAGE = 50;
  var SUFFIX = ["", "_L", "_R", "_M"];
  var LETTER = ["B", "L", "R", "M"];
  var TITLE = ["Combined", "Left", "Right", "Middle"];

  /* Page paths of row R (relative to the index), in B, L, R, M order. */
  function pages(r) {
    if (typeof r[1] !== "number")
      return r[1];
    var stem = r[2] || r[0], out = [];
    for (var s = 0; s < 4; s++)
      out.push(r[1] & (1 << s) ? stem + SUFFIX[s] + ".html" : null);
    return out;
  }

  function href(path) {
    return path.split("/").map(encodeURIComponent).join("/");
  }

  /* The decoded data plus what the filters compare, worked out once. */
  function model(data) {
    var m = { s: data.s, g: data.g, rows: data.r, name: [], sides: [],
      roi: {}, size: [] };
    for (var i = 0; i < data.s.length; i++)
      m.roi[data.s[i]] = i;
    for (i = 0; i < data.g.length; i++)
      m.size.push(0);
    for (i = 0; i < m.rows.length; i++) {
      var r = m.rows[i], p = pages(r), sd = "";
      for (var s = 0; s < 4; s++)
        if (p[s])
          sd += LETTER[s];
      m.name.push(r[0].toLowerCase());
      m.sides.push(sd);
      m.size[r[3]]++;
    }
    return m;
  }

  function hasRoi(r, k) {
    for (var j = 0; j < r[8].length; j += 3)
      if (r[8][j] === k)
        return true;
    return false;
  }

  /*
   * Indices of the rows matching ST: {q: search text, region: group index
   * as a string or "", side: "B"/"L"/"R"/"M" or "", tag: ROI name or ""}.
   * Every word of q must be in the name (any case). Rows keep their order
   * (by region, then name).
   */
  function filter(m, st) {
    var terms = (st.q || "").toLowerCase().split(/\s+/).filter(Boolean);
    var region = st.region === "" || st.region === undefined ? -1 : +st.region;
    var side = st.side || "", tag = -1, out = [];
    if (st.tag) {
      tag = m.roi[st.tag];
      if (tag === undefined)
        return out;
    }
    for (var i = 0; i < m.rows.length; i++) {
      var r = m.rows[i], ok = region < 0 || r[3] === region;
      for (var t = 0; ok && t < terms.length; t++)
        ok = m.name[i].indexOf(terms[t]) >= 0;
      if (ok && side)
        ok = m.sides[i].indexOf(side) >= 0;
      if (ok && tag >= 0)
        ok = hasRoi(r, tag);
      if (ok)
        out.push(i);
    }
    return out;
  }

  var ESC = { "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" };
  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) { return ESC[c]; });
  }

  function pct(v) {
    return (v / 10).toFixed(1) + "%";
  }

  /* Row I as a <tr>; TAG (an ROI name) marks its tag pressed. */
  function row(m, i, tag, quick) {
    var r = m.rows[i], p = pages(r), h = [], s, c = r[4];
    h.push(r[9] === 1 ? "<tr class=\"nf\"><td class=\"c-name\">" :
      "<tr><td class=\"c-name\">");
    h.push(p[0] ? "<a href=\"" + esc(href(p[0])) + "\">" + esc(r[0]) + "</a>" :
      "<span class=\"nolink\">" + esc(r[0]) + "</span>");
    if (typeof r[9] === "string")
      h.push(" <span class=\"badge err\" title=\"" + esc(r[9]) + "\">no data</span>");
    else if (r[9] === 1)
      h.push(" <span class=\"badge nf\" title=\"No type of this name in the " +
        "dataset\">not in dataset</span>");
    h.push("</td><td class=\"c-pages\">");
    for (s = 1; s < 4; s++)
      h.push(p[s] ? "<a class=\"side\" href=\"" + esc(href(p[s])) + "\" title=\"" +
        TITLE[s] + " page\" aria-label=\"" + esc(r[0]) + ", " + TITLE[s].toLowerCase() +
        " page\">" + LETTER[s] + "</a>" :
        "<span class=\"side off\" aria-hidden=\"true\">" + LETTER[s] + "</span>");
    h.push("</td>");
    if (quick)
      return h.join("") + "</tr>";
    h.push("<td class=\"c-rois\">");
    for (s = 0; s < r[8].length; s += 3) {
      var n = m.s[r[8][s]];
      h.push("<button type=\"button\" class=\"tag\" aria-pressed=\"" + (n === tag) +
        "\" title=\"pre " + pct(r[8][s + 1]) + " \u00b7 post " + pct(r[8][s + 2]) +
        "\">" + esc(n) + "</button>");
    }
    h.push("</td><td class=\"c-num total\" title=\"synapses: pre " + r[5] + ", post " +
      r[6] + "\">" + c[0] + "</td>");
    for (s = 1; s < 4; s++)
      h.push("<td class=\"c-num c-side" + (c[s] ? "" : " zero") + "\">" + c[s] + "</td>");
    h.push("<td class=\"c-nt\">" + (r[7] >= 0 ? esc(m.s[r[7]]) :
      "<span class=\"muted\">\u2014</span>") + "</td></tr>");
    return h.join("");
  }

  function head(quick) {
    return "<thead><tr><th class=\"c-name\">Type</th><th class=\"c-pages\">Pages</th>" +
      (quick ? "" : "<th class=\"c-rois\">ROIs</th>" +
      "<th class=\"c-num\" title=\"cells, all sides\">Cells</th>" +
      "<th class=\"c-num c-side\" title=\"left cells\">L</th>" +
      "<th class=\"c-num c-side\" title=\"right cells\">R</th>" +
      "<th class=\"c-num c-side\" title=\"middle cells\">M</th>" +
      "<th class=\"c-nt\" title=\"consensus neurotransmitter\">NT</th>") +
      "</tr></thead>";
  }

  root.FlatIndex = { model: model, filter: filter, pages: pages, href: href,
    row: row };

  if (typeof document === "undefined" || !document.getElementById("index-data"))
    return;

  /* ---- the page ---- */
  var el = function (id) { return document.getElementById(id); };
  var m = model(JSON.parse(el("index-data").textContent));
  var form = el("filters"), q = el("q"), fRegion = el("f-region");
  var fSide = el("f-side"), fTag = el("f-tag"), shown = el("shown");
  var none = el("none"), more = el("more"), groupsEl = el("groups");
  var quick = document.body.classList.contains("quick");
  var total = m.rows.length, hits = [], drawn = 0, inGroup = [], tag = "";
  var tbody = null, lastGroup = -1;

  function state() {
    return { q: q.value, region: fRegion.value, side: fSide.value,
      tag: fTag.value };
  }

  /* Append rows up to UPTO, opening a section whenever the region changes. */
  function draw(upto) {
    while (drawn < upto && drawn < hits.length) {
      var g = m.rows[hits[drawn]][3], h = [];
      for (; drawn < upto && drawn < hits.length &&
          m.rows[hits[drawn]][3] === g; drawn++)
        h.push(row(m, hits[drawn], tag, quick));
      if (g !== lastGroup) {
        var k = inGroup[g], n = m.size[g];
        groupsEl.insertAdjacentHTML("beforeend", "<section class=\"group\" id=\"g" +
          g + "\"><h2><span class=\"g-name\">" + esc(m.g[g]) +
          "</span> <span class=\"g-count\">" + (k === n ? n : k + " / " + n) +
          "</span></h2><table class=\"types\">" + head(quick) +
          "<tbody></tbody></table></section>");
        tbody = groupsEl.lastChild.querySelector("tbody");
        lastGroup = g;
      }
      tbody.insertAdjacentHTML("beforeend", h.join(""));
    }
    more.hidden = drawn >= hits.length;
    if (!more.hidden)
      more.textContent = "Show more (" + (hits.length - drawn) + " left)";
  }

  function apply() {
    var st = state();
    tag = st.tag;
    hits = filter(m, st);
    inGroup = m.size.map(function () { return 0; });
    for (var i = 0; i < hits.length; i++)
      inGroup[m.rows[hits[i]][3]]++;
    drawn = 0;
    lastGroup = -1;
    groupsEl.textContent = "";
    draw(PAGE);
    none.hidden = hits.length !== 0;
    shown.textContent = hits.length === total ? total + " types" :
      hits.length + " of " + total + " types";
  }

  form.hidden = false;
  form.addEventListener("submit", function (e) { e.preventDefault(); });
  q.addEventListener("input", apply);
  /* Enter opens the first shown type's first page (combined, L, R, M). */
  q.addEventListener("keydown", function (e) {
    if (e.key !== "Enter" || !hits.length)
      return;
    e.preventDefault();
    var p = pages(m.rows[hits[0]]).filter(Boolean);
    if (p.length)
      root.location.href = href(p[0]);
  });
  [fRegion, fSide, fTag].forEach(function (s) {
    s.addEventListener("change", apply);
  });
  el("f-reset").addEventListener("click", function () {
    form.reset();
    apply();
    q.focus();
  });
  more.addEventListener("click", function () { draw(drawn + PAGE); });
  if (typeof IntersectionObserver === "function")
    new IntersectionObserver(function (es) {
      if (es[0].isIntersecting && !more.hidden)
        draw(drawn + PAGE);
    }, { rootMargin: "800px" }).observe(more);

  /* An ROI tag (a button: Tab reaches it, Enter presses it) filters by it; again clears. */
  groupsEl.addEventListener("click", function (e) {
    var t = e.target.closest && e.target.closest("button.tag");
    if (!t)
      return;
    fTag.value = fTag.value === t.textContent ? "" : t.textContent;
    apply();
  });

  document.addEventListener("keydown", function (e) {
    var a = document.activeElement, typing = a && (a.tagName === "INPUT" ||
      a.tagName === "SELECT" || a.tagName === "TEXTAREA" || a.isContentEditable);
    if (e.key === "/" && !typing && !e.ctrlKey && !e.metaKey && !e.altKey) {
      e.preventDefault();
      q.focus();
    } else if (e.key === "Escape" && a === q && q.value) {
      q.value = "";
      apply();
    }
  });

  apply();	/* also picks up values the browser restored */
})(this);
