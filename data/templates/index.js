/*
 * quickpage index: the rows are built here from the compact data in
 * <script id="index-data"> (docs/output.md, "index.html data"), about a
 * screenful at a time, so the page stays fast at 10,000+ types: a
 * keystroke or a filter change is one pass over the data plus the rows
 * that fill the screen, never a walk over every row of the DOM; the rows
 * below are drawn as the "Show more" button nears the screen. Works from
 * file:// with no network. The pure part (FlatIndex.model, .filter,
 * .pages, .row, .fill) needs no DOM, so tests run it in node.
 */
(function (root) {
  "use strict";

  var PAGE = 50;	/* rows per "Show more" click */
  /*
   * At least the height of a row and of a section's heading and table
   * head, in CSS pixels (index.css), to guess how many rows fill the
   * screen from the data alone: measuring would force a layout.
   */
  var ROW_PX = 30, SECTION_PX = 80;
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

  /*
   * How far into HITS (row indices) the rows from FROM on fill PX pixels,
   * when the row before FROM was in section LAST (-1: none yet). An
   * estimate that errs towards drawing more: rows are ROW_PX or taller.
   */
  function fill(m, hits, from, last, px) {
    var k = from;
    for (; k < hits.length && px > 0; k++) {
      var g = m.rows[hits[k]][3];
      if (g !== last) {
        px -= SECTION_PX;
        last = g;
      }
      px -= ROW_PX;
    }
    return k;
  }

  /*
   * Row I as a <tr>; TAG (an ROI name) marks its tag pressed. The ROI tags
   * are inline <span role="button">s, not <button>s: a button is a box of
   * its own to lay out (a flex box in Chromium), and a row has up to five;
   * the page's keydown handler gives them Enter and Space.
   */
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
      h.push("<span role=\"button\" tabindex=\"0\" class=\"tag\" aria-pressed=\"" +
        (n === tag) + "\" title=\"pre " + pct(r[8][s + 1]) + " \u00b7 post " +
        pct(r[8][s + 2]) + "\">" + esc(n) + "</span>");
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
    row: row, fill: fill };

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
  var tbody = null, lastGroup = -1, io = null, idle = 0;
  var later = root.requestIdleCallback || function (f) { return setTimeout(f, 50); };
  var unlater = root.cancelIdleCallback || clearTimeout;

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

  /* Draw about PX more pixels of rows. */
  function drawPx(px) {
    draw(fill(m, hits, drawn, lastGroup, px));
  }

  function screen() {
    return root.innerHeight || 800;
  }

  /*
   * Ask the observer afresh where the button is, dropping what it saw
   * before: it reports only changes, and an old "near" would draw a
   * screen more of rows for the list that is gone.
   */
  function watch() {
    unlater(idle);
    idle = 0;
    if (io) {
      io.takeRecords();
      io.unobserve(more);
      io.observe(more);
    }
  }

  function apply() {
    /*
     * The rows to draw now are those between the list's top and the
     * screen's bottom (the list's top is above the screen when scrolled
     * into it). Read before the list changes, this layout costs little:
     * only the search box or a select is out of date.
     */
    var px = screen() - groupsEl.getBoundingClientRect().top;
    var st = state();
    tag = st.tag;
    hits = filter(m, st);
    inGroup = m.size.map(function () { return 0; });
    for (var i = 0; i < hits.length; i++)
      inGroup[m.rows[hits[i]][3]]++;
    drawn = 0;
    lastGroup = -1;
    groupsEl.textContent = "";
    drawPx(Math.min(Math.max(px, ROW_PX), 3 * screen()));
    watch();
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
  /*
   * A screen more whenever the button is within a screen of the bottom,
   * drawn when the page is idle (within 100 ms), each in a frame of its
   * own after the one that showed the first screen: a keystroke never
   * waits for rows below the screen.
   */
  if (typeof IntersectionObserver === "function")
    io = new IntersectionObserver(function (es) {
      if (es[es.length - 1].isIntersecting && !more.hidden && !idle)
        idle = later(function () {
          idle = 0;
          drawPx(screen());
          watch();
        }, { timeout: 100 });
    }, { rootMargin: "0px 0px 100% 0px" });

  /* An ROI tag (role=button: Tab reaches it, Enter or Space presses it) filters by it; again clears. */
  function press(t) {
    fTag.value = fTag.value === t.textContent ? "" : t.textContent;
    apply();
  }
  groupsEl.addEventListener("click", function (e) {
    var t = e.target.closest && e.target.closest(".tag");
    if (t)
      press(t);
  });
  groupsEl.addEventListener("keydown", function (e) {
    var t = e.target;
    if ((e.key === "Enter" || e.key === " ") && t.classList &&
        t.classList.contains("tag")) {
      e.preventDefault();	/* Space would scroll */
      press(t);
    }
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
