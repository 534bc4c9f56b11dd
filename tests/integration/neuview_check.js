#!/usr/bin/env node
/*
 * neuview_check.js OUTDIR: checks a neuView-layout site's types.html and
 * static/js/neuron-search.js against OUTDIR/types.json and
 * OUTDIR/data/neurons.json, in node with no npm packages:
 *  - types.html's embedded rows carry every field of types.json;
 *  - every filter option, alone and in pairs, and both toggles give the rows
 *    types.json says they should (expectations computed here, from
 *    types.json, not by the page's code); sorting orders as the data says;
 *  - the search script, run against a minimal DOM stub from a page in types/
 *    (file://, data by the neurons.js fallback) and from the root page (http,
 *    data by fetch), finds each type by its name, synonyms and FlyWire
 *    names, and Enter opens an existing page.
 * Prints one JSON line for the caller (test_create_index.py) with the cards'
 * HTML, which it parses; exits 1 with a message on the first failure.
 */
"use strict";

const fs = require("fs");
const path = require("path");
const vm = require("vm");
const url = require("url");

function fail(msg) {
  console.error("neuview_check: " + msg);
  process.exit(1);
}
function eq(got, want, what) {
  const g = JSON.stringify(got), w = JSON.stringify(want);
  if (g !== w)
    fail(`${what}: got ${g.slice(0, 400)}, want ${w.slice(0, 400)}`);
}

const out = process.argv[2];
if (!out)
  fail("usage: neuview_check.js OUTDIR");
const html = fs.readFileSync(path.join(out, "types.html"), "utf8");
const tj = JSON.parse(fs.readFileSync(path.join(out, "types.json"), "utf8"));
const types = tj.types;
const nj = JSON.parse(fs.readFileSync(path.join(out, "data", "neurons.json"), "utf8"));

/* ---- types.html: the data ---- */
const dm = /<script type="application\/json" id="type-data">([\s\S]*?)<\/script>/.exec(html);
if (!dm)
  fail("types.html has no type-data script");
const scripts = [...html.matchAll(/<script>\n([\s\S]*?)\n<\/script>/g)];
if (scripts.length !== 1)
  fail(`types.html has ${scripts.length} inline scripts, want 1`);
if (/<script[^>]+src=|<link[^>]+href="?https?:|https?:\/\//i.test(html.replace(/<noscript>[\s\S]*<\/noscript>/, "")))
  fail("types.html refers to something outside the site");
const ctx = {};
vm.createContext(ctx);
vm.runInContext(scripts[0][1], ctx, { filename: "types.html" });
const TL = ctx.TypeList;
const m = TL.model(JSON.parse(dm[1]));
eq(m.rows.length, types.length, "rows");

const lower = (s) => s.toLowerCase();
const sideKeys = ["combined", "left", "right", "middle"];
const S = m.s;
for (let i = 0; i < types.length; i++) {
  const t = types[i], r = m.rows[i], w = `row ${i} (${t.name})`;
  eq(r[0], t.name, w + " name");
  const p = TL.pages(r), urls = {};
  sideKeys.forEach((k, j) => { if (p[j]) urls[k] = p[j]; });
  eq(urls, t.urls, w + " urls");
  for (const f of Object.values(urls))
    if (!fs.existsSync(path.join(out, f)))
      fail(`${w}: page ${f} does not exist`);
  const c = t.counts;
  eq(r[3], [c.total, c.left, c.right, c.middle, c.undefined], w + " counts");
  eq([r[4], r[5]], [t.synapses.pre, t.synapses.post], w + " synapses");
  eq(r[6] < 0 ? null : S[r[6]], t.nt, w + " nt");
  eq(r[7].map((k) => S[k]), t.superclass, w + " superclass");
  eq(r[8].map((k) => S[k]), t.class, w + " class");
  eq(r[9].map((k) => S[k]), t.subclass, w + " subclass");
  eq(r[10] < 0 ? null : S[r[10]], t.dimorphism, w + " dimorphism");
  eq(r[11], t.synonyms || "", w + " synonyms");
  eq(r[12], t.flywire_types, w + " flywire");
  eq(r[13].map((k) => S[k]), t.soma_neuromeres, w + " neuromeres");
  eq(r[14].map((k) => S[k]), t.truman_hemilineages, w + " hemilineages");
  const rois = [];
  for (let k = 0; k < r[15].length; k += 3)
    rois.push([S[r[15][k]], r[15][k + 1], r[15][k + 2]]);
  eq(rois, t.roi_summary.map((e) => [e.name, Math.round(e.pre_pct * 10),
    Math.round(e.post_pct * 10)]), w + " rois");
  eq(r[16].map((k) => S[k]), t.parent_rois, w + " parents");
}

/* ---- filters: expectations from types.json ---- */
const RANGE = (label) => {
  if (label[0] === ">") return [Number(label.slice(1)) + 1, Infinity];
  const p = label.split("-").map(Number);
  return [p[0], p.length > 1 ? p[1] : p[0]];
};
const onlySide = (c, s) => {
  const o = { L: c.left, R: c.right, M: c.middle };
  return o[s] > 0 && Object.keys(o).every((k) => k === s || o[k] === 0);
};
const expect = {
  roi: (t, v) => t.roi_summary.some((e) => e.name === v) || t.parent_rois.includes(v),
  region: (t, v) => t.parent_rois.includes(v),
  nt: (t, v) => t.nt === v,
  dimorphism: (t, v) => t.dimorphism === v,
  superclass: (t, v) => t.superclass.includes(v),
  class: (t, v) => t.class.includes(v),
  subclass: (t, v) => t.subclass.includes(v),
  neuromere: (t, v) => t.soma_neuromeres.includes(v),
  hemilineage: (t, v) => t.truman_hemilineages.includes(v),
  side: (t, v) => v === "Undefined" ? t.counts.undefined > 0 :
    onlySide(t.counts, v.slice(-5) === "Right" ? "R" : v.slice(-4) === "Left" ? "L" : "M"),
  count: (t, v) => { const r = RANGE(v); return t.counts.total >= r[0] && t.counts.total <= r[1]; },
};
const values = {
  roi: (t) => t.roi_summary.map((e) => e.name).concat(t.parent_rois),
  region: (t) => t.parent_rois, nt: (t) => (t.nt === null ? [] : [t.nt]),
  dimorphism: (t) => (t.dimorphism === null ? [] : [t.dimorphism]),
  superclass: (t) => t.superclass, class: (t) => t.class, subclass: (t) => t.subclass,
  neuromere: (t) => t.soma_neuromeres, hemilineage: (t) => t.truman_hemilineages,
};
const names = (idx) => idx.map((i) => m.rows[i][0]);
const want = (f) => types.filter(f).map((t) => t.name);
let checked = 0, nonEmpty = 0;
const opts = {};
for (const key of Object.keys(expect)) {
  opts[key] = TL.options(m, key);
  if (values[key]) {
    const all = new Set();
    types.forEach((t) => values[key](t).forEach((v) => all.add(v)));
    eq(opts[key].map((o) => o[1]).sort(), [...all].sort(), `options of ${key}`);
  }
  for (const [v, label] of opts[key]) {
    const got = names(TL.filter(m, { [key]: v }));
    eq(got, want((t) => expect[key](t, label)), `filter ${key}=${label}`);
    checked++;
    nonEmpty += got.length > 0;
  }
}
if (nonEmpty !== checked)
  fail(`${checked - nonEmpty} filter options select no type`);
if (!opts.side.some((o) => o[1] === "Undefined") && types.some((t) => t.counts.undefined > 0))
  fail("no Undefined side option though some type has undefined cells");
/* pairs: the first two options of every two filters */
const keys = Object.keys(expect);
for (let a = 0; a < keys.length; a++)
  for (let b = a + 1; b < keys.length; b++)
    for (const oa of opts[keys[a]].slice(0, 2))
      for (const ob of opts[keys[b]].slice(0, 2)) {
        eq(names(TL.filter(m, { [keys[a]]: oa[0], [keys[b]]: ob[0] })),
          want((t) => expect[keys[a]](t, oa[1]) && expect[keys[b]](t, ob[1])),
          `filter ${keys[a]}=${oa[1]} and ${keys[b]}=${ob[1]}`);
        checked++;
      }
eq(names(TL.filter(m, { syn: true })), want((t) => !!t.synonyms), "toggle synonyms");
eq(names(TL.filter(m, { fw: true })),
  want((t) => t.flywire_types.some((f) => lower(f) !== lower(t.name))), "toggle flywire");
eq(names(TL.filter(m, {})), types.map((t) => t.name), "no filter");
/* the name box: each type's own name, and its synonyms and FlyWire names */
const hay = (t) => [t.name, t.synonyms || ""].concat(t.flywire_types).map(lower);
for (const t of types) {
  const qs = [t.name, t.name.slice(1, -1)].concat(t.flywire_types.slice(0, 1),
    TL.synonymNames(t.synonyms || "", t.name).slice(0, 1));
  for (const q0 of qs) {
    const q = lower(q0.trim());
    if (!q) continue;
    const got = names(TL.filter(m, { name: q }));
    eq(got, want((u) => hay(u).some((h) => h.includes(q))), `name filter ${JSON.stringify(q)}`);
    if (!got.includes(t.name))
      fail(`name filter ${JSON.stringify(q)} misses ${t.name}`);
    checked++;
  }
}
/* sorting */
const byte = (a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name));
const sorts = {
  name: byte,
  "cells-desc": (a, b) => b.counts.total - a.counts.total || byte(a, b),
  "cells-asc": (a, b) => a.counts.total - b.counts.total || byte(a, b),
  "syn-desc": (a, b) => (b.synapses.pre + b.synapses.post) - (a.synapses.pre + a.synapses.post) || byte(a, b),
  "syn-asc": (a, b) => (a.synapses.pre + a.synapses.post) - (b.synapses.pre + b.synapses.post) || byte(a, b),
};
for (const [k, f] of Object.entries(sorts))
  eq(names(TL.filter(m, { sort: k })), types.slice().sort(f).map((t) => t.name), "sort " + k);

/* ---- neuron-search.js against a DOM stub ---- */
const jsPath = path.join(out, "static", "js", "neuron-search.js");
const src = fs.readFileSync(jsPath, "utf8");

class El {
  constructor(tag, doc) {
    this.tagName = tag.toUpperCase(); this.doc = doc; this.children = [];
    this.attrs = {}; this.style = {}; this.on = {}; this.parentNode = null; this._t = "";
  }
  appendChild(c) { c.parentNode = this; this.children.push(c); if (this.onappend) this.onappend(c); return c; }
  setAttribute(k, v) { this.attrs[k] = String(v); }
  getAttribute(k) { return k in this.attrs ? this.attrs[k] : null; }
  removeAttribute(k) { delete this.attrs[k]; }
  addEventListener(t, f) { (this.on[t] = this.on[t] || []).push(f); }
  fire(t, ev) {
    ev = Object.assign({ target: this }, ev || {});
    ev.preventDefault = () => { ev.defaultPrevented = true; };
    (this.on[t] || []).forEach((f) => f(ev));
    return ev;
  }
  set textContent(v) { this.children = []; this._t = String(v); }
  get textContent() { return this._t + this.children.map((c) => c.textContent).join(""); }
  focus() { this.doc.activeElement = this; this.fire("focus"); }
}

function page(pageUrl, scriptUrl, ids) {
  const doc = { readyState: "complete", on: {}, activeElement: null };
  doc.createElement = (t) => new El(t, doc);
  doc.addEventListener = El.prototype.addEventListener.bind(doc);
  doc.fire = El.prototype.fire.bind(doc);
  doc.on = {};
  doc.body = new El("body", doc);
  doc.head = new El("head", doc);
  doc.currentScript = { src: scriptUrl };
  doc.getElementsByTagName = () => [];
  const byId = {};
  for (const id of ids) {
    const box = doc.body.appendChild(new El("div", doc));
    byId[id] = box.appendChild(new El("input", doc));
    byId[id].value = "";
  }
  doc.getElementById = (id) => byId[id] || null;
  const w = { document: doc, URL, console, setTimeout: (f) => f(),
    location: { href: pageUrl, protocol: new URL(pageUrl).protocol }, requests: [] };
  w.window = w;
  const toFile = (u) => {
    const p = new URL(u);
    if (p.protocol === "file:") return url.fileURLToPath(p);
    return path.join(out, decodeURIComponent(p.pathname.replace(/^\/site\//, "")));
  };
  w.toFile = toFile;
  /* the neurons.js fallback: a script tag loads and runs the file */
  doc.head.onappend = (tag) => {
    w.requests.push(tag.src);
    vm.runInContext(fs.readFileSync(toFile(tag.src), "utf8"), w, { filename: tag.src });
    if (tag.onload) tag.onload();
  };
  if (!pageUrl.startsWith("file:"))
    w.fetch = (u) => {
      w.requests.push(u);
      const body = fs.readFileSync(toFile(u), "utf8");
      return Promise.resolve({ ok: true, json: () => Promise.resolve(JSON.parse(body)) });
    };
  vm.createContext(w);
  vm.runInContext(src, w, { filename: jsPath });
  return { w, doc, byId };
}

const tick = () => new Promise((r) => setImmediate(r));
const entryKeys = (e) => {
  const t = e.types || {}, k = [e.name];
  (t.synonyms || []).forEach((s) => { k.push(s.trim()); if (s.includes(":")) k.push(s.slice(s.indexOf(":") + 1).trim()); });
  (t.flywire || []).forEach((f) => k.push(f.trim()));
  return k.map(lower);
};

async function searchFrom(label, pageUrl, scriptUrl, ids, box) {
  const { w, doc, byId } = page(pageUrl, scriptUrl, ids);
  const api = w.QuickpageNeuronSearch;
  const root = new URL("../../", scriptUrl).href;
  eq(api.base, root, label + ": site root");
  /* '/' focuses the search box */
  doc.fire("keydown", { key: "/" });
  if (doc.activeElement !== byId[box])
    fail(`${label}: '/' does not focus #${box}`);
  await tick(); await tick();
  const input = byId[box], list = input.parentNode.children[1];
  let opened = 0;
  for (const e of nj.neurons) {
    const qs = [e.name].concat((e.types && e.types.flywire || []).slice(0, 1),
      (e.types && e.types.synonyms || []).slice(0, 1));
    for (const q of qs) {
      if (q.trim().length < 2) continue;
      input.value = q;
      input.fire("input");
      await tick(); await tick();
      const items = list.children.filter((c) => c.getAttribute("role") === "option");
      const ql = lower(q.trim());
      const matching = nj.neurons.filter((n) => entryKeys(n).some((k) => k.includes(ql)));
      eq(items.length, Math.min(10, matching.length), `${label}: results for ${JSON.stringify(q)}`);
      const shown = items.map((it) => it.children[0].textContent);
      for (const s of shown)
        if (!matching.some((n) => n.name === s))
          fail(`${label}: ${JSON.stringify(q)} shows ${s}, which does not match`);
      const exact = matching.filter((n) => entryKeys(n).includes(ql)).length;
      if (q === e.name && lower(shown[0]) !== ql && exact <= 10 && !shown.slice(0, exact).includes(e.name))
        fail(`${label}: ${JSON.stringify(q)}: exact match not first (${shown})`);
      for (const it of items) {
        const links = [it].concat(it.children.filter((c) => c.getAttribute("data-url") !== null));
        for (const a of links) {
          const u = a.getAttribute("data-url");
          if (!u || !u.startsWith(root + "types/") || !fs.existsSync(w.toFile(u)))
            fail(`${label}: ${JSON.stringify(q)}: link ${u} is not an existing page`);
        }
      }
      /* aliases shown, without the type's own name */
      const it = items[shown.indexOf(e.name)];
      const aka = it && it.children.find((c) => c.tagName === "DIV");
      if (it && e.types && lower(aka ? aka.textContent : "").includes("aka: " + lower(e.name) + ","))
        fail(`${label}: aka line repeats the name of ${e.name}`);
      if (q === e.name && e.types && e.types.flywire &&
          e.types.flywire.some((f) => lower(f) !== lower(e.name)) && it && !aka)
        fail(`${label}: no aka line for ${e.name}`);
      /* Enter opens the first result's page */
      w.location.href = pageUrl;
      input.fire("keydown", { key: "Enter" });
      const first = matching.find((n) => n.name === shown[0]);
      const u = first.urls;
      const p = u.combined || u.left || u.right || u.middle;
      eq(w.location.href, root + "types/" + encodeURIComponent(p), `${label}: Enter on ${JSON.stringify(q)}`);
      if (!fs.existsSync(w.toFile(w.location.href)))
        fail(`${label}: Enter opened ${w.location.href}, which does not exist`);
      opened++;
    }
  }
  return { opened, requests: w.requests };
}

(async () => {
  const fileRoot = url.pathToFileURL(path.resolve(out)).href + "/";
  const first = nj.neurons.find((e) => e.urls.combined || e.urls.left);
  const pg = first ? fileRoot + "types/" + encodeURIComponent(first.urls.combined || first.urls.left) : fileRoot + "types/x.html";
  const a = await searchFrom("types/ page, file://", pg, fileRoot + "static/js/neuron-search.js",
    ["menulines", "menulines-drawer"], "menulines");
  eq(a.requests, [fileRoot + "data/neurons.js"], "file:// loads data/neurons.js");
  const b = await searchFrom("root page, http", "http://127.0.0.1:8/site/index.html",
    "http://127.0.0.1:8/site/static/js/neuron-search.js", ["landing-search", "menulines"], "landing-search");
  eq(b.requests, ["http://127.0.0.1:8/site/data/neurons.json"], "http fetches data/neurons.json");
  /* without currentScript, neuView's rule: a page in types/ is one level down */
  const api = page(pg, "", []).w.QuickpageNeuronSearch;
  eq(api.siteRoot(null, "http://h/x/types/A.html"), "http://h/x/", "siteRoot from types/");
  eq(api.siteRoot(null, "http://h/x/index.html"), "http://h/x/", "siteRoot from the root");
  const st = {};
  const cards = m.rows.map((_, i) => TL.card(m, i, st));
  process.stdout.write(JSON.stringify({ rows: m.rows.length, filters: checked,
    searches: a.opened + b.opened, cards }) + "\n");
})().catch((e) => fail(e.stack || String(e)));
