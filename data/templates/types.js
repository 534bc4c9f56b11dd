/*
 * types.html (neuview layout): the rows are built here from the compact
 * data in <script id="type-data"> (render_typelist.c describes a row),
 * about a screenful at a time, so the page stays fast at 10,000+ types;
 * the cards below are drawn as the "Show more" button nears the screen.
 * Filtering and sorting run on the data, never on the DOM. The pure part
 * (TypeList.model, .filter, .options, .tags, .card) needs no DOM, so tests
 * run it in node.
 */
(function (root) {
  "use strict";

  var PAGE = 60;	/* cards per "Show more" click */
  /*
   * A card is at least CARD_PX tall and CARD_W wide with GAP between
   * (types.css), to guess how many fill the screen: measuring the cards
   * would force a layout.
   */
  var CARD_PX = 160, CARD_W = 304, GAP = 10;
  var LONG_TAG = 30;	/* characters; a longer tag may wrap (types.css) */
  var SIDES = ["combined", "left", "right", "middle"];
  var SUFFIX = ["", "_L", "_R", "_M"];
  /* neuView's count ranges, without its overlap at 10. */
  var RANGES = [[1, 1], [2, 2], [3, 3], [4, 4], [5, 5], [6, 10], [11, 50],
    [51, 100], [101, 500], [501, 1000], [1001, 2000], [2001, 5000],
    [5001, Infinity]];
  var LIST_KEYS = { superclass: 7, "class": 8, subclass: 9, neuromere: 13,
    hemilineage: 14 };

  function rangeLabel(i) {
    var r = RANGES[i];
    return r[0] === r[1] ? String(r[0]) :
      r[1] === Infinity ? ">" + (r[0] - 1) : r[0] + "-" + r[1];
  }

  function rangeOf(n) {
    for (var i = 0; i < RANGES.length; i++)
      if (n >= RANGES[i][0] && n <= RANGES[i][1])
        return i;
    return -1;
  }

  function lower(s) { return s.toLowerCase(); }

  /*
   * Synonym names as neuView's cards show them: split on ';'; "Author
   * Year: name" gives the name; items without ':' split on ',' with fru-*
   * dropped; fru-M* hidden; the type's own name (any case) left out.
   */
  function synonymNames(raw, name) {
    var out = [], seen = {}, items = raw ? raw.split(";") : [];
    seen[lower(name)] = 1;
    function add(s) {
      s = s.trim();
      if (s && !/^fru-M/.test(s) && !seen[lower(s)]) {
        seen[lower(s)] = 1;
        out.push(s);
      }
    }
    for (var i = 0; i < items.length; i++) {
      var it = items[i], c = it.indexOf(":");
      if (c >= 0) {
        add(it.slice(c + 1));
        continue;
      }
      var parts = it.split(",");
      for (var j = 0; j < parts.length; j++)
        if (!/^\s*fru-/.test(parts[j]))
          add(parts[j]);
    }
    return out;
  }

  function otherFlywire(fw, name) {
    var l = lower(name);
    return fw.filter(function (f) { return lower(f) !== l; });
  }

  /* Page paths of row R, relative to the site root, by SIDES order. */
  function pages(r) {
    if (typeof r[1] !== "number")
      return r[1];
    var stem = r[2] || r[0], out = [];
    for (var s = 0; s < 4; s++)
      out.push(r[1] & (1 << s) ? "types/" + stem + SUFFIX[s] + ".html" : null);
    return out;
  }

  function href(path) {
    return path.split("/").map(encodeURIComponent).join("/");
  }

  /*
   * The decoded data plus the lower-cased text the Name filter searches.
   * Synonym and FlyWire tags are worked out per row when first needed:
   * the page must be interactive well within a second at 10,000+ types.
   */
  function model(data) {
    var m = { s: data.s, rows: data.r, hay: new Array(data.r.length),
      syn: [], fw: [], order: {} };
    for (var i = 0; i < m.rows.length; i++) {
      var r = m.rows[i];
      m.hay[i] = lower(r[11] || r[12].length ? r[0] + "\n" + r[11] + "\n" +
        r[12].join("\n") : r[0]);
    }
    return m;
  }

  function synOf(m, i) {
    return m.syn[i] || (m.syn[i] = synonymNames(m.rows[i][11], m.rows[i][0]));
  }

  function fwOf(m, i) {
    return m.fw[i] || (m.fw[i] = otherFlywire(m.rows[i][12], m.rows[i][0]));
  }

  function hasRoi(r, v) {
    for (var k = 0; k < r[15].length; k += 3)
      if (r[15][k] === v)
        return true;
    return r[16].indexOf(v) >= 0;
  }

  function sideOf(c) {
    if (c[1] > 0 && c[2] === 0 && c[3] === 0) return "L";
    if (c[2] > 0 && c[1] === 0 && c[3] === 0) return "R";
    if (c[3] > 0 && c[1] === 0 && c[2] === 0) return "M";
    return "";
  }

  /*
   * Whether row I passes filter KEY = V (V a string as a <select> holds
   * it), as a function of I: the key is looked at and V converted once per
   * keystroke, not once per row (that was most of a filter's time).
   */
  function test(m, key, v) {
    var rows = m.rows, n = +v, col = LIST_KEYS[key];
    switch (key) {
    case "name": return function (i) { return m.hay[i].indexOf(v) >= 0; };
    case "roi": return function (i) { return hasRoi(rows[i], n); };
    case "region": return function (i) { return rows[i][16].indexOf(n) >= 0; };
    case "nt": return function (i) { return rows[i][6] === n; };
    case "dimorphism": return function (i) { return rows[i][10] === n; };
    case "side": return v === "U" ? function (i) { return rows[i][3][4] > 0; } :
      function (i) { return sideOf(rows[i][3]) === v; };
    case "count":
      var lo = RANGES[n] ? RANGES[n][0] : 1, hi = RANGES[n] ? RANGES[n][1] : 0;
      return function (i) { return rows[i][3][0] >= lo && rows[i][3][0] <= hi; };
    case "syn": return function (i) { return rows[i][11] !== ""; };
    case "fw": return function (i) { return fwOf(m, i).length > 0; };
    default: return function (i) { return rows[i][col].indexOf(n) >= 0; };
    }
  }

  function sortKey(m, key) {
    if (m.order[key])
      return m.order[key];
    var rows = m.rows, n = rows.length, idx = new Array(n), i;
    if (key === "name") {
      for (i = 0; i < n; i++)
        idx[i] = i;
      return (m.order[key] = idx);
    }
    /*
     * Sorted as numbers with no comparator (a comparator called 130,000
     * times took 15 ms): value * SH + row index, ties so by name (rows
     * are in name order); descending sorts max - value. Counts are whole
     * numbers well under 2^53 / SH.
     */
    var cells = key.indexOf("cells") === 0, asc = /-asc$/.test(key);
    var val = new Float64Array(n), max = 0, SH = 1;
    while (SH <= n)
      SH *= 2;
    for (i = 0; i < n; i++) {
      val[i] = cells ? rows[i][3][0] : rows[i][4] + rows[i][5];
      max = Math.max(max, val[i]);
    }
    for (i = 0; i < n; i++)
      val[i] = (asc ? val[i] : max - val[i]) * SH + i;
    val.sort();
    for (i = 0; i < n; i++)
      idx[i] = val[i] % SH;
    return (m.order[key] = idx);
  }

  /*
   * Indices of the rows that pass every filter of ST ({key: value}; name
   * lower-cased; empty values ignored), in the order ST.sort asks for.
   */
  function filter(m, st) {
    var keys = Object.keys(st).filter(function (k) {
      return k !== "sort" && st[k] !== "" && st[k] !== false &&
        st[k] !== undefined;
    });
    var ord = sortKey(m, st.sort || "name"), out = [];
    var tests = keys.map(function (k) { return test(m, k, st[k]); });
    for (var j = 0; j < ord.length; j++) {
      var i = ord[j], ok = true;
      for (var k = 0; k < tests.length && ok; k++)
        ok = tests[k](i);
      if (ok)
        out.push(i);
    }
    return out;
  }

  /*
   * Which values of every filter some type has, in one pass over the rows
   * (m.seen[key][value] is 1): the page builds a dozen option lists, and a
   * pass each was a tenth of a second at 10,000 types. Values index "s"
   * (count: RANGES; side: U, L, R, M), so arrays serve.
   */
  function seenAll(m) {
    if (m.seen)
      return m.seen;
    var n = m.s.length, sn = {}, i, k, r, c, key;
    function arr(len) {
      var a = new Array(len);
      for (var j = 0; j < len; j++)
        a[j] = 0;
      return a;
    }
    ["roi", "region", "nt", "dimorphism"].concat(Object.keys(LIST_KEYS))
      .forEach(function (key) { sn[key] = arr(n); });
    sn.count = arr(RANGES.length);
    sn.side = {};
    for (i = 0; i < m.rows.length; i++) {
      r = m.rows[i];
      for (k = 0; k < r[15].length; k += 3)
        sn.roi[r[15][k]] = 1;
      for (k = 0; k < r[16].length; k++)
        sn.roi[r[16][k]] = sn.region[r[16][k]] = 1;
      if (r[6] >= 0)
        sn.nt[r[6]] = 1;
      if (r[10] >= 0)
        sn.dimorphism[r[10]] = 1;
      if ((k = rangeOf(r[3][0])) >= 0)
        sn.count[k] = 1;
      if (r[3][4] > 0)
        sn.side.U = 1;
      if ((k = sideOf(r[3])))
        sn.side[k] = 1;
      for (key in LIST_KEYS)
        for (k = 0, c = r[LIST_KEYS[key]]; k < c.length; k++)
          sn[key][c[k]] = 1;
    }
    m.seen = sn;
    return sn;
  }

  /* [[value, label]] of filter KEY: only values some type has. */
  function options(m, key) {
    var seen = seenAll(m)[key], vals = [], out, v;
    if (key === "side")
      return [["U", "Undefined"], ["R", "only Right"], ["L", "only Left"],
        ["M", "only Middle"]].filter(function (o) { return seen[o[0]]; });
    for (v = 0; v < seen.length; v++)	/* "s" is in byte order */
      if (seen[v])
        vals.push(v);
    if (key === "count")
      return vals.map(function (v) { return [String(v), rangeLabel(v)]; });
    out = vals.map(function (v) { return [String(v), m.s[v]]; });
    if (key === "region")	/* neuView lists "Other" last */
      out.sort(function (a, b) {
        return (a[1] === "Other") - (b[1] === "Other");
      });
    return out;
  }

  /* Tags of row I in neuView's order: [filter key, value, text, class, title]. */
  function tags(m, i) {
    var r = m.rows[i], s = m.s, t = [], k, side = sideOf(r[3]);
    function list(key, col, cls) {
      for (var j = 0; j < r[col].length; j++)
        t.push([key, String(r[col][j]), s[r[col][j]], cls]);
    }
    list("region", 16, "t-par");
    for (k = 0; k < r[15].length; k += 3)
      t.push(["roi", String(r[15][k]), s[r[15][k]], "t-roi",
        "input " + r[15][k + 1] / 10 + " %, output " + r[15][k + 2] / 10 + " %"]);
    if (r[3][4] > 0)
      t.push(["side", "U", "Undefined", "t-side", r[3][4] + " cells without a side"]);
    if (side)
      t.push(["side", side, "only " + side, "t-side"]);
    list("superclass", 7, "t-cls");
    list("class", 8, "t-cls");
    list("subclass", 9, "t-cls");
    if (r[6] >= 0)
      t.push(["nt", String(r[6]), s[r[6]], "t-nt", "neurotransmitter"]);
    if (r[10] >= 0)
      t.push(["dimorphism", String(r[10]), s[r[10]], "t-dim", "dimorphism"]);
    list("neuromere", 13, "t-som");
    list("hemilineage", 14, "t-hl");
    if (r[3][0] > 0)
      t.push(["count", String(rangeOf(r[3][0])), r[3][0] + (r[3][0] === 1 ?
        " cell" : " cells"), "t-cnt", "cell count " + rangeLabel(rangeOf(r[3][0]))]);
    var sy = synOf(m, i), fw = fwOf(m, i);
    for (k = 0; k < sy.length; k++)
      t.push(["name", sy[k], sy[k], "t-syn", "synonym"]);
    for (k = 0; k < fw.length; k++)
      t.push(["name", fw[k], fw[k], "t-fw", "FlyWire type"]);
    return t;
  }

  var ESC = { "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" };
  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) { return ESC[c]; });
  }

  function num(n) {
    return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  }

  /*
   * One card as HTML; ST marks the tags whose filter is on. The tags are
   * inline <span role="button">s, not <button>s: a button is a box of its
   * own to lay out (a flex box in Chromium) and a card has about fifteen;
   * the page's keydown handler gives them Enter and Space.
   */
  function card(m, i, st) {
    var r = m.rows[i], p = pages(r), h = [], j, first = -1, c = r[3];
    for (j = 0; j < 4; j++)
      if (p[j] && first < 0)
        first = j;
    h.push("<li class=\"card\"><h2>");
    h.push(first === 0 ? "<a href=\"" + esc(href(p[0])) + "\">" + esc(r[0]) + "</a>" :
      esc(r[0]));
    var side = [];
    [2, 1, 3].forEach(function (s) {	/* neuView's order: R, L, M */
      if (p[s])
        side.push("<a href=\"" + esc(href(p[s])) + "\" aria-label=\"" + esc(r[0]) +
          ", " + SIDES[s] + " side\">" + SUFFIX[s].slice(1) + "</a>");
    });
    if (side.length)
      h.push(" <span class=\"sides\">(" + side.join(", ") + ")</span>");
    h.push("</h2><p class=\"nums\">" + num(c[0]) + (c[0] === 1 ? " cell" : " cells") +
      ": left " + num(c[1]) + ", right " + num(c[2]) + ", middle " + num(c[3]) +
      ", undefined " + num(c[4]) + " &middot; synapses: " + num(r[4]) + " pre, " +
      num(r[5]) + " post</p><div class=\"tags\">");
    var tg = tags(m, i);
    for (j = 0; j < tg.length; j++) {
      var on = st && st[tg[j][0]] !== undefined && st[tg[j][0]] !== "" &&
        String(st[tg[j][0]]) === (tg[j][0] === "name" ? lower(tg[j][1]) : tg[j][1]);
      h.push("<span role=\"button\" tabindex=\"0\" class=\"tag " + tg[j][3] +
        (tg[j][2].length > LONG_TAG ? " t-long" : "") + "\" data-k=\"" + tg[j][0] + "\" data-v=\"" + esc(tg[j][1]) +
        "\" aria-pressed=\"" + !!on + "\"" + (tg[j][4] ? " title=\"" +
        esc(tg[j][4]) + "\"" : "") + ">" + esc(tg[j][2]) + "</span> ");
    }
    h.push("</div></li>");
    return h.join("");
  }

  root.TypeList = { model: model, filter: filter, options: options,
    tags: tags, card: card, pages: pages, href: href, RANGES: RANGES,
    synonymNames: synonymNames };

  if (typeof document === "undefined" || !document.getElementById("type-data"))
    return;

  /* ---- the page ---- */
  var el = function (id) { return document.getElementById(id); };
  var m = model(JSON.parse(el("type-data").textContent));
  var form = el("filters"), name = el("f-name"), rowsEl = el("rows");
  var shown = el("shown"), none = el("none"), more = el("more");
  var sort = el("f-sort"), syn = el("f-syn"), fw = el("f-fw");
  var selects = form.querySelectorAll("select[data-key]");
  var total = m.rows.length, hits = [], drawn = 0, st = {}, io = null, idle = 0;
  var later = root.requestIdleCallback || function (f) { return setTimeout(f, 50); };
  var unlater = root.cancelIdleCallback || clearTimeout;

  /*
   * The option lists are built after the first screen, when the page is
   * idle, OPTS_CHUNK options a task, or at once when a select is focused
   * or pressed or a tag sets it: at cns scale there are over 5,000 (3,500
   * subclasses), and each costs its share of building and style. The form
   * is aria-busy until all are in. pending: [select, options, count in].
   */
  var OPTS_CHUNK = 400, pending = [];
  for (var i = 0; i < selects.length; i++)
    pending.push([selects[i], null, 0]);
  form.setAttribute("aria-busy", "true");

  /* Put up to N more options into pending[K]'s select (all: Infinity). */
  function fillSome(k, n) {
    var p = pending[k], s = p[0], h = [], j;
    if (!p[1]) {
      p[1] = options(m, s.getAttribute("data-key"));
      s.disabled = p[1].length === 0;
    }
    for (j = p[2]; j < p[1].length && j < p[2] + n; j++)
      h.push("<option value=\"" + esc(p[1][j][0]) + "\">" + esc(p[1][j][1]) +
        "</option>");
    s.insertAdjacentHTML("beforeend", h.join(""));
    p[2] = j;
    if (j >= p[1].length) {
      pending.splice(k, 1);
      if (!pending.length)
        form.removeAttribute("aria-busy");
    }
  }

  function fillNow(s) {
    for (var k = 0; k < pending.length; k++)
      if (pending[k][0] === s)
        return fillSome(k, Infinity);
  }

  function fillLater() {
    if (pending.length) {
      fillSome(0, OPTS_CHUNK);
      later(fillLater, { timeout: 200 });
    }
  }

  function state() {
    var s = { name: lower(name.value.trim()), sort: sort.value,
      syn: syn.checked, fw: fw.checked };
    for (var i = 0; i < selects.length; i++)
      s[selects[i].getAttribute("data-key")] = selects[i].value;
    return s;
  }

  function draw(upto) {
    var h = [];
    for (; drawn < upto && drawn < hits.length; drawn++)
      h.push(card(m, hits[drawn], st));
    rowsEl.insertAdjacentHTML("beforeend", h.join(""));
    more.hidden = drawn >= hits.length;
    if (!more.hidden)
      more.textContent = "Show more (" + (hits.length - drawn) + " left)";
  }

  function screen() {
    return root.innerHeight || 800;
  }

  /* As many cards as fill about PX pixels of the list, WIDTH wide. */
  function cardsFor(px, width) {
    var cols = Math.max(1, Math.floor((width + GAP) / (CARD_W + GAP)));
    return cols * Math.max(1, Math.ceil(px / CARD_PX));
  }

  /*
   * Ask the observer afresh where the button is, dropping what it saw
   * before: it reports only changes, and an old "near" would draw a
   * screen more of cards for the list that is gone.
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
     * The cards to draw now are those between the list's top and the
     * screen's bottom (the list's top is above the screen when scrolled
     * into it). Read before the list changes, this layout costs little:
     * only the search box or a select is out of date.
     */
    var box = rowsEl.getBoundingClientRect();
    var px = Math.min(Math.max(screen() - box.top, CARD_PX), 3 * screen());
    st = state();
    hits = filter(m, st);
    drawn = 0;
    rowsEl.textContent = "";
    draw(cardsFor(px, box.width));
    watch();
    none.hidden = hits.length !== 0;
    shown.textContent = hits.length === total ? "Showing all " + total + " types" :
      hits.length + " of " + total + " types shown";
  }

  form.hidden = false;
  /* Before a select opens or takes a key: its options in place. */
  ["focusin", "pointerdown"].forEach(function (ev) {
    form.addEventListener(ev, function (e) {
      if (e.target.tagName === "SELECT")
        fillNow(e.target);
    }, true);
  });
  form.addEventListener("input", apply);
  form.addEventListener("change", apply);
  form.addEventListener("submit", function (e) { e.preventDefault(); });
  el("f-reset").addEventListener("click", function () {
    form.reset();
    apply();
    name.focus();
  });
  /* Enter in the Name box opens the first shown type's first page. */
  name.addEventListener("keydown", function (e) {
    if (e.key !== "Enter" || !hits.length)
      return;
    e.preventDefault();
    var p = pages(m.rows[hits[0]]).filter(Boolean);
    if (p.length)
      root.location.href = href(p[0]);
  });
  more.addEventListener("click", function () { draw(drawn + PAGE); });
  /*
   * A screen more whenever the button is within a screen of the bottom,
   * drawn when the page is idle (within 100 ms), each in a frame of its
   * own after the one that showed the first screen: a keystroke never
   * waits for cards below the screen.
   */
  if (typeof IntersectionObserver === "function")
    io = new IntersectionObserver(function (es) {
      var e = es[es.length - 1];
      if (e.isIntersecting && !more.hidden && !idle)
        idle = later(function () {
          idle = 0;
          draw(drawn + cardsFor(screen(), rowsEl.clientWidth));
          watch();
        }, { timeout: 100 });
    }, { rootMargin: "0px 0px 100% 0px" });

  /* A tag (role=button: Tab reaches it, Enter and Space press it) sets its filter, or clears it. */
  function press(t) {
    var k = t.getAttribute("data-k"), v = t.getAttribute("data-v");
    if (k === "name")
      name.value = lower(name.value.trim()) === lower(v) ? "" : v;
    else {
      var s = form.querySelector("select[data-key=\"" + k + "\"]");
      fillNow(s);
      s.value = s.value === v ? "" : v;
    }
    apply();
  }
  rowsEl.addEventListener("click", function (e) {
    var t = e.target.closest && e.target.closest(".tag");
    if (t)
      press(t);
  });
  rowsEl.addEventListener("keydown", function (e) {
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
      name.focus();
    } else if (e.key === "Escape" && a === name && name.value) {
      name.value = "";
      apply();
    }
  });

  apply();	/* also picks up values the browser restored */
  later(fillLater, { timeout: 200 });
})(this);
