/*
 * static/js/neuron-search.js of a neuView-layout site, written by quickpage
 * at {{generated_at}} ({{type_count}} types); rewritten on every index run,
 * do not edit. A drop-in for neuView's: it attaches a type-ahead to
 * #menulines, #menulines-drawer and #landing-search, and holds no data: it
 * reads data/neurons.json, or data/neurons.js where fetch() is refused
 * (file://). Every URL is resolved against the site root, found from this
 * script's own URL (static/js/ under the root), so links are right from the
 * root pages, from types/ and from a site hosted under any path.
 */
(function (root) {
  "use strict";

  var MAX = 10;
  var ORDER = ["combined", "left", "right", "middle"];	/* what a click opens */
  var SIDE_LINKS = [["right", "R"], ["middle", "M"], ["left", "L"]];

  /*
   * The site root as an absolute URL with a trailing '/'. SRC: this
   * script's URL (…/static/js/neuron-search.js), or null; then PAGE (the
   * page's URL) decides as neuView does: a page in types/ is one level down.
   */
  function siteRoot(src, page) {
    if (src && /\/static\/js\/[^\/]*$/.test(new URL(src).pathname))
      return new URL("../../", src).href;
    var u = new URL(".", page);
    return /\/types\/$/.test(u.pathname) ? new URL("..", u).href : u.href;
  }

  function lower(s) { return String(s).toLowerCase(); }

  /* The names a type answers to besides its own, as the aka: line shows them. */
  function aliases(e) {
    var t = e.types || {}, out = [], seen = {};
    seen[lower(e.name)] = 1;
    function add(s) {
      s = String(s).trim();
      if (s && !seen[lower(s)]) {
        seen[lower(s)] = 1;
        out.push(s);
      }
    }
    (t.synonyms || []).forEach(function (s) {
      var c = s.indexOf(":");
      add(c >= 0 ? s.slice(c + 1) : s);
    });
    (t.flywire || []).forEach(add);
    return out;
  }

  /* Lower-cased strings a query is matched against, per entry. */
  function keys(e) {
    var k = [lower(e.name)], t = e.types || {};
    (t.synonyms || []).forEach(function (s) {
      var c = s.indexOf(":");
      k.push(lower(s.trim()));
      if (c >= 0)
        k.push(lower(s.slice(c + 1).trim()));
    });
    (t.flywire || []).forEach(function (f) { k.push(lower(f.trim())); });
    return k;
  }

  /*
   * Up to MAX entries of NEURONS matching QUERY (case-insensitive
   * substring of the name, a synonym, the part of a synonym after ':', or
   * a FlyWire name): exact matches first, then prefixes, then the rest,
   * each group by localeCompare of the names.
   */
  function match(neurons, query, index) {
    var q = lower(query.trim()), hits = [];
    if (!q)
      return [];
    for (var i = 0; i < neurons.length; i++) {
      var k = index ? index[i] : keys(neurons[i]), best = 3;
      for (var j = 0; j < k.length && best > 0; j++) {
        var at = k[j].indexOf(q);
        if (at >= 0)
          best = Math.min(best, k[j] === q ? 0 : at === 0 ? 1 : 2);
      }
      if (best < 3)
        hits.push([best, neurons[i]]);
    }
    hits.sort(function (a, b) {
      return a[0] - b[0] || a[1].name.localeCompare(b[1].name);
    });
    return hits.slice(0, MAX).map(function (h) { return h[1]; });
  }

  /* The page a selection opens: combined, else left, right, middle. */
  function primary(e) {
    for (var i = 0; i < ORDER.length; i++)
      if (e.urls && e.urls[ORDER[i]])
        return e.urls[ORDER[i]];
    return null;
  }

  /* FILE (a name in types/, as neurons.json has it) as an absolute URL. */
  function pageUrl(base, file) {
    return base + "types/" + encodeURIComponent(file);
  }

  var api = { siteRoot: siteRoot, match: match, aliases: aliases,
    primary: primary, pageUrl: pageUrl };
  root.QuickpageNeuronSearch = api;

  if (typeof document === "undefined" || !document.addEventListener)
    return;

  /* document.currentScript is only set while this file first runs. */
  var me = document.currentScript, src = me && me.src ? me.src : null;
  if (!src) {
    var all = document.getElementsByTagName("script");
    for (var s = 0; s < all.length && !src; s++)
      if (/\/static\/js\/neuron-search\.js(?:[?#]|$)/.test(all[s].src || ""))
        src = all[s].src;
  }
  var base = siteRoot(src, root.location.href);
  var data = null, index = null, waiting = [];

  function loaded(d) {
    if (data || !d || !d.neurons)
      return;
    data = d.neurons;
    index = data.map(keys);
    waiting.splice(0).forEach(function (f) { f(); });
  }

  /* One shared load: fetch the JSON, else the .js fallback by a script tag. */
  function load() {
    if (load.started)
      return;
    load.started = true;
    if (root.NEURON_DATA_FALLBACK)
      return loaded(root.NEURON_DATA_FALLBACK);
    function fallback() {
      root.neuronDataCallback = loaded;
      var tag = document.createElement("script");
      tag.src = base + "data/neurons.js";
      tag.onload = function () { loaded(root.NEURON_DATA_FALLBACK); };
      document.head.appendChild(tag);
    }
    if (root.location.protocol === "file:" || typeof root.fetch !== "function")
      return fallback();
    root.fetch(base + "data/neurons.json").then(function (r) {
      if (!r.ok)
        throw new Error(r.status);
      return r.json();
    }).then(loaded, fallback);
  }

  var uid = 0;

  function Search(input, minChars) {
    var self = this;
    this.input = input;
    this.min = minChars;
    this.items = [];
    this.current = -1;
    this.list = document.createElement("div");
    this.list.id = "nsr-" + (++uid);
    this.list.className = "neuron-search-results";
    this.list.setAttribute("role", "listbox");
    this.list.style.cssText = "position:absolute;left:0;right:0;top:100%;" +
      "z-index:1000;display:none;max-height:22rem;overflow-y:auto;" +
      "background:#fff;color:#1a1a1a;border:1px solid #767676;" +
      "border-radius:0 0 4px 4px;box-shadow:0 2px 8px rgba(0,0,0,.15);" +
      "font-size:14px;text-align:left";
    input.parentNode.style.position = "relative";
    input.parentNode.appendChild(this.list);
    input.setAttribute("autocomplete", "off");
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", this.list.id);
    input.addEventListener("focus", load);
    input.addEventListener("input", function () { self.update(); });
    input.addEventListener("keydown", function (e) { self.key(e); });
    input.addEventListener("blur", function () {
      setTimeout(function () { self.hide(); }, 200);
    });
    /* mousedown comes before the input's blur hides the list. */
    this.list.addEventListener("mousedown", function (e) {
      var t = e.target;
      while (t && t !== self.list && !(t.getAttribute && t.getAttribute("data-url")))
        t = t.parentNode;
      if (t && t !== self.list) {
        e.preventDefault();
        self.go(t.getAttribute("data-url"));
      }
    });
  }

  Search.prototype.go = function (url) {
    if (url)
      root.location.href = url;
  };

  Search.prototype.update = function () {
    var self = this, q = this.input.value.trim();
    if (q.length < this.min)
      return this.show([]);
    if (!data) {
      waiting.push(function () { self.update(); });
      return load();
    }
    this.show(match(data, q, index));
  };

  Search.prototype.show = function (items) {
    this.list.textContent = "";
    this.items = items;
    this.current = -1;
    this.input.removeAttribute("aria-activedescendant");
    var q = this.input.value.trim();
    if (items.length === 0 && q.length < this.min)
      return this.hide();
    if (items.length === 0)
      this.row(null, 0);
    for (var i = 0; i < items.length; i++)
      this.row(items[i], i);
    this.list.style.display = "block";
    this.input.setAttribute("aria-expanded", "true");
  };

  Search.prototype.row = function (e, i) {
    var div = document.createElement("div");
    div.style.cssText = "padding:6px 10px;cursor:pointer;border-bottom:1px solid #ddd";
    if (e === null) {
      div.textContent = "No matching neuron types";
      div.style.cssText += ";color:#4a4a4a;font-style:italic;cursor:default";
      this.list.appendChild(div);
      return;
    }
    var p = primary(e);
    div.id = this.list.id + "-" + i;
    div.setAttribute("role", "option");
    div.className = "neuron-search-item";
    if (p)
      div.setAttribute("data-url", pageUrl(base, p));
    var name = document.createElement("strong");
    name.textContent = e.name;
    div.appendChild(name);
    var sides = SIDE_LINKS.filter(function (s) { return e.urls && e.urls[s[0]]; });
    if (sides.length === 0 && e.urls && e.urls.combined)
      sides = [["combined", "Combined"]];
    for (var k = 0; k < sides.length; k++) {
      /* Not an <a>: an option holds no focusable element (ARIA); the
         list's mousedown opens data-url, the keyboard the primary page. */
      var a = document.createElement("span");
      a.textContent = sides[k][1];
      a.setAttribute("data-url", pageUrl(base, e.urls[sides[k][0]]));
      a.style.cssText = "margin-left:8px;color:#0645ad;font-size:12px;" +
        "text-decoration:underline";
      div.appendChild(a);
    }
    var aka = aliases(e);
    if (aka.length) {
      var small = document.createElement("div");
      small.textContent = "aka: " + aka.join(", ");
      small.style.cssText = "font-size:12px;color:#4a4a4a";
      div.appendChild(small);
    }
    this.list.appendChild(div);
  };

  Search.prototype.hide = function () {
    this.list.style.display = "none";
    this.current = -1;
    this.input.setAttribute("aria-expanded", "false");
    this.input.removeAttribute("aria-activedescendant");
  };

  Search.prototype.mark = function () {
    var rows = this.list.children;
    for (var i = 0; i < rows.length; i++) {
      rows[i].style.background = i === this.current ? "#e1ecfb" : "";
      rows[i].setAttribute("aria-selected", i === this.current ? "true" : "false");
    }
    if (this.current >= 0)
      this.input.setAttribute("aria-activedescendant", this.list.id + "-" + this.current);
  };

  Search.prototype.key = function (e) {
    var n = this.items.length;
    if (e.key === "ArrowDown" && n) {
      this.current = Math.min(this.current + 1, n - 1);
      this.mark();
      e.preventDefault();
    } else if (e.key === "ArrowUp" && n) {
      this.current = Math.max(this.current - 1, 0);
      this.mark();
      e.preventDefault();
    } else if (e.key === "Enter") {
      e.preventDefault();
      var self = this;
      /* Typed fast, Enter can come before the data: open once it is in. */
      if (!data && this.input.value.trim().length >= this.min) {
        waiting.push(function () { self.update(); self.key(e); });
        return load();
      }
      if (n) {
        var p = primary(this.items[this.current < 0 ? 0 : this.current]);
        if (p)
          this.go(pageUrl(base, p));
      }
    } else if (e.key === "Escape") {
      this.hide();
    }
  };

  function start() {
    var boxes = [["menulines", 1], ["menulines-drawer", 1], ["landing-search", 2]];
    api.instances = [];
    boxes.forEach(function (b) {
      var input = document.getElementById(b[0]);
      if (input)
        api.instances.push(new Search(input, b[1]));
    });
    var focusable = document.getElementById("landing-search") ||
      document.getElementById("menulines");
    document.addEventListener("keydown", function (e) {
      var a = document.activeElement, typing = a && (a.tagName === "INPUT" ||
        a.tagName === "SELECT" || a.tagName === "TEXTAREA" || a.isContentEditable);
      if (e.key === "/" && focusable && !typing && !e.ctrlKey && !e.metaKey &&
          !e.altKey) {
        e.preventDefault();
        focusable.focus();
      }
    });
  }

  api.base = base;
  if (document.readyState === "loading")
    document.addEventListener("DOMContentLoaded", start);
  else
    start();
})(this);
