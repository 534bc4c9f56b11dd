#!/usr/bin/env node
/*
 * The neuview layout in Chromium, against sites the emulator built (demo
 * scale; tiny with awkward names): types.html (filters, toggles, sorting,
 * tags, the Name box), the home page index.html and a page under types/
 * (the search box of static/js/neuron-search.js). What a card should be is
 * worked out here from types.json, never by the page's own code.
 */
"use strict";

const fs = require("fs");
const path = require("path");
const L = require("./lib");
const { test, eq, ok } = L;

const lower = (s) => s.toLowerCase();
const byte = (a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name));
const RANGE = (label) => {
  if (label[0] === ">") return [Number(label.slice(1)) + 1, Infinity];
  const p = label.split("-").map(Number);
  return [p[0], p.length > 1 ? p[1] : p[0]];
};
const onlySide = (c, s) => {
  const o = { L: c.left, R: c.right, M: c.middle };
  return o[s] > 0 && Object.keys(o).every((k) => k === s || o[k] === 0);
};
/* A card matches filter KEY whose option reads LABEL when ... */
const EXPECT = {
  roi: (t, v) => t.roi_summary.some((e) => e.name === v) || t.parent_rois.includes(v),
  region: (t, v) => t.parent_rois.includes(v),
  nt: (t, v) => t.nt === v,
  superclass: (t, v) => t.superclass.includes(v),
  class: (t, v) => t.class.includes(v),
  subclass: (t, v) => t.subclass.includes(v),
  dimorphism: (t, v) => t.dimorphism === v,
  neuromere: (t, v) => t.soma_neuromeres.includes(v),
  hemilineage: (t, v) => t.truman_hemilineages.includes(v),
  side: (t, v) => v === "Undefined" ? t.counts.undefined > 0 :
    onlySide(t.counts, { "only Right": "R", "only Left": "L", "only Middle": "M" }[v]),
  count: (t, v) => { const r = RANGE(v); return t.counts.total >= r[0] && t.counts.total <= r[1]; },
  syn: (t) => !!t.synonyms,
  fw: (t) => t.flywire_types.some((f) => lower(f) !== lower(t.name)),
};
const SORTS = {
  name: byte,
  "cells-desc": (a, b) => b.counts.total - a.counts.total || byte(a, b),
  "cells-asc": (a, b) => a.counts.total - b.counts.total || byte(a, b),
  "syn-desc": (a, b) => (b.synapses.pre + b.synapses.post) - (a.synapses.pre + a.synapses.post) || byte(a, b),
  "syn-asc": (a, b) => (a.synapses.pre + a.synapses.post) - (b.synapses.pre + b.synapses.post) || byte(a, b),
};
const hay = (t) => [t.name, t.synonyms || ""].concat(t.flywire_types).map(lower);

function load(dir) {
  const tj = JSON.parse(fs.readFileSync(path.join(dir, "types.json"), "utf8"));
  return { dir, types: tj.types.slice().sort(byte) };
}

/* ST: {key: option label, name: text, syn/fw: true, sort}; the names it should show. */
function want(site, st) {
  return site.types.filter((t) => Object.keys(st).every((k) =>
    k === "sort" || k === "window" || (k === "name" ? hay(t).some((h) => h.includes(lower(st.name.trim()))) :
      EXPECT[k](t, st[k])))).sort(SORTS[st.sort || "name"]).map((t) => t.name);
}

/* Set the form to ST through its controls (labels to values), read every card. */
async function show(page, st) {
  return page.evaluate((st) => {
    const form = document.getElementById("filters");
    form.reset();
    for (const [k, v] of Object.entries(st)) {
      if (k === "window")
        continue;
      if (k === "name")
        document.getElementById("f-name").value = v;
      else if (k === "sort")
        document.getElementById("f-sort").value = v;
      else if (k === "syn" || k === "fw")
        document.getElementById("f-" + k).checked = v;
      else {
        const s = form.querySelector(`select[data-key="${k}"]`);
        const o = [...s.options].find((o) => o.textContent === v);
        if (!o)
          throw new Error(`no option ${v} in ${k}`);
        s.value = o.value;
      }
    }
    form.dispatchEvent(new Event("change", { bubbles: true }));
    const more = document.getElementById("more");
    while (!more.hidden && !st.window)
      more.click();
    /* The name is the h2's first child: a link, or text with the blank
       that precedes the side links. */
    const name = (h) => h.firstChild.nodeType === 3 && h.querySelector(".sides") ?
      h.firstChild.textContent.slice(0, -1) : h.firstChild.textContent;
    return { names: [...document.querySelectorAll("#rows .card h2")].map(name),
      shown: document.getElementById("shown").textContent };
  }, st);
}

function shownText(k, n) {
  return k === n ? `Showing all ${n} types` : `${k} of ${n} types shown`;
}

/*
 * Long lists: the cards drawn so far (at least a screenful, the first of
 * the list, in order) and the count (every card of a long list is read in
 * the first test, through Show more).
 */
async function check(page, site, st, what) {
  const w = want(site, st), long = w.length > 120;
  const got = await show(page, Object.assign({ window: long }, st));
  if (long) {
    ok(got.names.length >= 8, what + ": a screenful of cards, got " + got.names.length);
    /* The estimate of a screenful must never leave the screen's bottom empty. */
    ok(await page.evaluate(() => {
      const c = document.querySelectorAll("#rows .card");
      return c[c.length - 1].getBoundingClientRect().bottom >= innerHeight;
    }), what + ": the cards reach the bottom of the screen");
  }
  eq(got.names, long ? w.slice(0, got.names.length) : w, what);
  eq(got.shown, shownText(w.length, site.types.length), what + ": count");
  return w.length;
}

/* The option lists, once the page has put them all in (the form is aria-busy till then). */
async function labels(page) {
  await page.waitForSelector("#filters:not([aria-busy])", { state: "attached" });
  return page.evaluate(() => {
    const out = {};
    for (const s of document.querySelectorAll("#filters select[data-key]"))
      out[s.getAttribute("data-key")] = [...s.options].slice(1).map((o) => o.textContent);
    return out;
  });
}

async function open(ctx, base, file) {
  const page = await ctx.newPage();
  const outside = await L.guard(page, base);
  await page.goto(base + file.split("/").map(encodeURIComponent).join("/"));
  return { page, outside };
}

let B, demo, awk, srv;

test("types.html loads from file:// and HTTP, all cards, nothing from outside", async () => {
  for (const base of [L.fileBase(demo.dir), srv.url + "demo/"]) {
    const ctx = await B.newContext();
    const { page, outside } = await open(ctx, base, "types.html");
    const got = await show(page, {});
    eq(got.names, demo.types.map((t) => t.name), base + " cards");
    eq(got.shown, shownText(demo.types.length, demo.types.length), "count");
    eq(await page.getAttribute("#shown", "role"), "status", "count is announced");
    await page.click("#rows .card h2 a");
    await page.goBack();
    eq(outside, [], "requests outside the site");
    await ctx.close();
  }
});

test("types.html: every filter and toggle alone and in pairs; sorting; Reset", async () => {
  const ctx = await B.newContext();
  const { page, outside } = await open(ctx, L.fileBase(demo.dir), "types.html");
  /* Filled in when the page is idle, but a focused select has its options at once. */
  const atFocus = await page.evaluate(() => [...document.querySelectorAll(
    "#filters select[data-key]")].map((s) => { s.focus(); return s.options.length - 1; }));
  const opts = await labels(page);
  eq(atFocus, Object.values(opts).map((v) => v.length), "options in place when focused");
  let n = 0;
  for (const [k, vs] of Object.entries(opts)) {
    ok(vs.length > 0 || k === "dimorphism", `filter ${k} has options`);
    for (const v of vs)
      ok(await check(page, demo, { [k]: v }, `${k}=${v}`) > 0, `${k}=${v} matches a type`);
    n += vs.length;
  }
  for (const k of ["syn", "fw"])
    ok(await check(page, demo, { [k]: true }, "toggle " + k) > 0, k + " matches a type");
  /* pairs of the commonest options (toggles too) */
  const keys = Object.keys(opts).filter((k) => opts[k].length).concat(["syn", "fw"]);
  const common = (k) => k === "syn" || k === "fw" ? [true] :
    opts[k].map((v) => [v, want(demo, { [k]: v }).length]).sort((x, y) => y[1] - x[1])
      .slice(0, 1).map((x) => x[0]);
  /* each filter with the next two (cyclically): every one in four pairs,
     without the minute all 105 pairs take on a busy machine */
  for (let a = 0; a < keys.length; a++)
    for (const b of [(a + 1) % keys.length, (a + 2) % keys.length]) {
      const va = common(keys[a])[0], vb = common(keys[b])[0];
      await check(page, demo, { [keys[a]]: va, [keys[b]]: vb },
        `${keys[a]}=${va} and ${keys[b]}=${vb}`);
    }
  await check(page, demo, { [keys[0]]: common(keys[0])[0], side: opts.side[0],
    syn: true, name: "a" }, "three filters, a toggle and a name");
  for (const s of Object.keys(SORTS)) {
    await check(page, demo, { sort: s }, "sort " + s);
    await check(page, demo, { sort: s, side: opts.side[0] }, "sort " + s + " with a side");
  }
  await show(page, { name: "a", side: opts.side[0], syn: true, sort: "cells-desc" });
  await page.click("#f-reset");
  const got = await page.evaluate(() => ({
    cards: document.querySelectorAll("#rows .card").length,
    shown: document.getElementById("shown").textContent,
    name: document.getElementById("f-name").value,
    focus: document.activeElement.id }));
  eq(got.shown, shownText(demo.types.length, demo.types.length), "Reset shows all");
  eq([got.name, got.focus], ["", "f-name"], "Reset clears and focuses the Name box");
  ok(n > 50, "the demo site offers many options: " + n);
  eq(outside, [], "requests outside the site");
  await ctx.close();
});

test("types.html: / focuses Name, awkward names match, Enter opens; tags by keyboard", async () => {
  const ctx = await B.newContext();
  const { page, outside } = await open(ctx, srv.url + "awk/", "types.html");
  await page.click("h1");
  await page.keyboard.press("/");
  eq(await page.evaluate(() => document.activeElement.id), "f-name", "/ focuses Name");
  const tricky = awk.types.map((t) => t.name).filter((n) => /['\/,&(+ ]/.test(n));
  ok(tricky.length >= 6, "awkward names: " + tricky);
  for (const n of tricky) {
    await page.fill("#f-name", "");
    await page.keyboard.type(n);
    const got = await show(page, { name: n });
    eq(got.names, want(awk, { name: n }), "Name " + JSON.stringify(n));
    ok(got.names.includes(n), n + " found");
  }
  const t = awk.types.find((x) => /\//.test(x.name));
  await page.fill("#f-name", t.name);
  const [resp] = await Promise.all([page.waitForNavigation(), page.press("#f-name", "Enter")]);
  eq(resp.status(), 200, "Enter lands on an existing page");
  ok(decodeURIComponent(page.url()).endsWith(["combined", "left", "right", "middle"]
    .map((k) => t.urls[k]).find(Boolean)), "Enter opens the type's first page");
  await page.goBack();
  /* Tab to a tag, Enter sets its filter, pressing it again clears it. */
  await page.fill("#f-name", "");
  await page.focus("#f-reset");
  let tag = null;
  for (let i = 0; i < 30 && !tag; i++) {
    await page.keyboard.press("Tab");
    tag = await page.evaluate(() => {
      const a = document.activeElement;
      return a.classList.contains("tag") && a.getAttribute("data-k") !== "name" ?
        [a.getAttribute("data-k"), a.textContent] : null;
    });
  }
  ok(tag, "Tab reaches a tag");
  await page.keyboard.press("Enter");
  const st = await page.evaluate((k) => {
    const s = document.querySelector(`select[data-key="${k}"]`);
    return s.options[s.selectedIndex].textContent;
  }, tag[0]);
  ok(st !== "" && st !== "All" && st !== "Any", "Enter on a tag sets filter " + tag[0]);
  const n1 = await page.$$eval("#rows .card", (c) => c.length);
  ok(n1 < awk.types.length, "a tag narrows the list");
  await page.focus(".tag[aria-pressed=true]");
  await page.keyboard.press("Space");
  eq(await page.textContent("#shown"), shownText(awk.types.length, awk.types.length),
    "pressing it again clears it");
  eq(outside, [], "requests outside the site");
  await ctx.close();
});

/* The type-ahead of neuron-search.js: from the home page and from types/. */
async function typeahead(page, box, name) {
  await page.fill(box, "");
  await page.type(box, name);
  await page.waitForSelector(".neuron-search-item", { state: "visible" });
  return page.$$eval(".neuron-search-item strong", (s) => s.map((x) => x.textContent));
}

test("home page and a page in types/: search box finds names, Enter and click open pages", async () => {
  for (const base of [L.fileBase(awk.dir), srv.url + "awk/"]) {
    const ctx = await B.newContext();
    const sub = awk.types.find((t) => t.urls.combined);
    for (const [file, box] of [["index.html", "#landing-search"], [sub.urls.combined, "#menulines"]]) {
      const { page, outside } = await open(ctx, base, file);
      await page.click("body", { position: { x: 1, y: 1 } });
      await page.keyboard.press("/");
      eq(await page.evaluate(() => document.activeElement.id), box.slice(1), "/ focuses " + box);
      for (const t of awk.types.filter((x) => /['\/,&(+ ]/.test(x.name))) {
        const hits = await typeahead(page, box, t.name);
        eq(hits[0], t.name, `${file}: ${JSON.stringify(t.name)} first`);
      }
      const t = awk.types.find((x) => /&/.test(x.name));
      const target = ["combined", "left", "right", "middle"].map((k) => t.urls[k]).find(Boolean);
      await typeahead(page, box, t.name);
      await Promise.all([page.waitForNavigation(), page.press(box, "Enter")]);
      ok(decodeURIComponent(page.url()).endsWith("/" + target), `${file}: Enter opens ${target}`);
      ok(fs.existsSync(path.join(awk.dir, target)), target + " exists");
      await page.goBack();
      const u = awk.types.find((x) => /\+/.test(x.name));
      await typeahead(page, box, u.name);
      await Promise.all([page.waitForNavigation(), page.click(".neuron-search-item strong")]);
      const got = decodeURIComponent(new URL(page.url()).pathname);
      ok(Object.values(u.urls).some((p) => got.endsWith("/" + p)), `${file}: a click opens ${got}`);
      ok(fs.existsSync(path.join(awk.dir, got.slice(got.indexOf("/types/") + 1))),
        got + " exists");
      eq(outside, [], `${file}: requests outside the site`);
      await page.close();
    }
    await ctx.close();
  }
});

test("axe-core: no serious or critical finding on types.html, index.html, help.html", async () => {
  for (const [site, file, scheme] of [[demo, "types.html", "light"], [demo, "types.html", "dark"],
    [demo, "index.html", "light"], [demo, "help.html", "light"]]) {
    const ctx = await B.newContext({ colorScheme: scheme });
    const { page } = await open(ctx, L.fileBase(site.dir), file);
    if (file === "index.html")	/* with the type-ahead open */
      await typeahead(page, "#landing-search", "T4");
    eq(await L.axe(page), [], `axe on ${path.basename(site.dir)}/${file} (${scheme})`);
    await ctx.close();
  }
});

test("screenshots; at 390 px no sideways scrolling", async () => {
  const ctx = await B.newContext({ viewport: { width: 390, height: 844 }, isMobile: true });
  for (const f of ["types.html", "index.html"]) {
    const { page } = await open(ctx, L.fileBase(demo.dir), f);
    const w = await page.evaluate(() => document.scrollingElement.scrollWidth);
    ok(w <= 390, `${f} at 390 px is ${w} px wide`);
    await page.close();
  }
  await ctx.close();
  const b = L.fileBase(demo.dir), files = [];
  files.push(...await L.shots(B, b + "types.html", "neuview-types"));
  files.push(...await L.shots(B, b + "types.html", "neuview-types-filtered", async (p) => {
    await p.fill("#f-name", "T4");
    await p.selectOption("#f-sort", "cells-desc");
  }));
  files.push(...await L.shots(B, b + "index.html", "neuview-home-search",
    (p) => typeahead(p, "#landing-search", "KC")));
  for (const f of files)
    ok(fs.statSync(f).size > 5000, f + " written");
  console.log("# screenshots: " + files.join(" "));
});

test("types.html without JavaScript: a link per type to an existing page", async () => {
  const ctx = await B.newContext({ javaScriptEnabled: false });
  const { page, outside } = await open(ctx, L.fileBase(awk.dir), "types.html");
  const links = await page.$$eval("main a", (as) => as.map((a) =>
    decodeURIComponent(new URL(a.href).pathname)));
  const text = await page.textContent("main");
  for (const t of awk.types)
    ok(text.includes(t.name), t.name + " listed");
  for (const p of links)
    ok(fs.existsSync(p), p + " exists");
  ok(links.length >= awk.types.length, "a link per type");
  ok(await page.isHidden("#filters"), "filters hidden without JavaScript");
  eq(outside, [], "requests outside the site");
  await ctx.close();
});

L.run(async () => {
  const work = L.tmpdir("qp-browser-nv-");
  demo = load(L.buildSite(work, "demo", { scale: "demo", layout: "neuview" }));
  awk = load(L.buildSite(work, "awk", { scale: "tiny", layout: "neuview", awkward: true }));
  srv = await L.serve(work);
  B = await L.launch();
  return {};
}, async () => {
  await B.close();
  await srv.close();
});
