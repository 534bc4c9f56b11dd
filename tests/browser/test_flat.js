#!/usr/bin/env node
/*
 * The flat layout's index.html in Chromium, against sites the emulator
 * built (demo scale; tiny with awkward names; --quick). What a row should
 * be is worked out here from types.json, never by the page's own code.
 */
"use strict";

const fs = require("fs");
const path = require("path");
const L = require("./lib");
const { test, eq, ok } = L;

const cmp = (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/* types.json as the page should show it: groups by parent ROI, Other last. */
function expect(dir) {
  const tj = JSON.parse(fs.readFileSync(path.join(dir, "types.json"), "utf8"));
  const groups = [...new Set(tj.types.map((t) => t.parent_roi || ""))]
    .sort((a, b) => (a === "") - (b === "") || cmp(a, b));
  const rows = tj.types.map((t) => ({ t, g: groups.indexOf(t.parent_roi || "") }))
    .sort((a, b) => a.g - b.g || cmp(a.t.name, b.t.name));
  return { tj, groups: groups.map((g) => g || "Other"), rows };
}

const SIDE = { B: "combined", L: "left", R: "right", M: "middle" };

function want(e, st) {
  const terms = (st.q || "").toLowerCase().split(/\s+/).filter(Boolean);
  return e.rows.filter(({ t, g }) =>
    (st.region === undefined || st.region === "" || g === +st.region) &&
    terms.every((w) => t.name.toLowerCase().includes(w)) &&
    (!st.side || t.urls[SIDE[st.side]] !== undefined) &&
    (!st.tag || t.roi_summary.some((r) => r.name === st.tag)))
    .map(({ t }) => t.name);
}

/* Set the form to ST (through the controls, as a user would), read every row. */
async function show(page, st) {
  await page.evaluate((st) => {
    const f = (id, v) => {
      const el = document.getElementById(id);
      el.value = v || "";
      el.dispatchEvent(new Event(id === "q" ? "input" : "change", { bubbles: true }));
    };
    f("q", st.q); f("f-region", st.region); f("f-side", st.side); f("f-tag", st.tag);
  }, st);
  return rows(page, st.window);
}

async function rows(page, windowOnly) {
  return page.evaluate((windowOnly) => {
    const more = document.getElementById("more");
    while (!more.hidden && !windowOnly)
      more.click();
    return { names: [...document.querySelectorAll("#groups tbody tr .c-name")]
      .map((td) => td.firstChild.textContent),
    shown: document.getElementById("shown").textContent,
    counts: [...document.querySelectorAll("#groups section")].map((s) =>
      s.querySelector(".g-name").textContent + ": " +
      s.querySelector(".g-count").textContent) };
  }, windowOnly);
}

function shownText(k, n) {
  return k === n ? `${n} types` : `${k} of ${n} types`;
}

/*
 * Long lists: the rows drawn so far (at least a screenful, the first of
 * the list, in order) and the counts (every row of a long list is read in
 * the first test, through Show more).
 */
async function check(page, e, st, what) {
  const w = want(e, st), n = e.rows.length, long = w.length > 200;
  const got = await show(page, Object.assign({ window: long }, st));
  if (long) {
    ok(got.names.length >= 5, what + ": a screenful of rows, got " + got.names.length);
    /* The estimate of a screenful must never leave the screen's bottom empty. */
    ok(await page.evaluate(() => {
      const r = document.querySelectorAll("#groups tbody tr");
      return r[r.length - 1].getBoundingClientRect().bottom >= innerHeight;
    }), what + ": the rows reach the bottom of the screen");
  }
  eq(got.names, long ? w.slice(0, got.names.length) : w, what + " rows");
  eq(got.shown, shownText(w.length, n), what + " count");
  /* Section counts: shown / all of that region. */
  const per = {};
  for (const { t, g } of e.rows)
    per[g] = per[g] || { k: 0, n: 0 };
  for (const { g } of e.rows)
    per[g].n++;
  const set = new Set(w);
  for (const { t, g } of e.rows)
    if (set.has(t.name))
      per[g].k++;
  const wc = Object.keys(per).map(Number).sort((a, b) => a - b).filter((g) => per[g].k)
    .map((g) => `${e.groups[g]}: ${per[g].k === per[g].n ? per[g].n : per[g].k + " / " + per[g].n}`);
  eq(got.counts, long ? wc.slice(0, got.counts.length) : wc, what + " section counts");
  return w.length;
}

async function options(page, id) {
  return page.$$eval(`#${id} option`, (os) => os.map((o) => o.value).filter(Boolean));
}

async function open(ctx, site, base, file = "index.html") {
  const page = await ctx.newPage();
  const outside = await L.guard(page, base);
  await page.goto(base + file);
  return { page, outside };
}

let B, work, demo, awk, quick, srv;

test("loads from file:// and from HTTP, all rows, no request outside the site", async () => {
  for (const base of [L.fileBase(demo.dir), srv.url + "demo/"]) {
    const ctx = await B.newContext();
    const { page, outside } = await open(ctx, demo.dir, base);
    const got = await rows(page);
    eq(got.names, demo.e.rows.map((r) => r.t.name), base + " rows");
    eq(got.shown, `${demo.e.rows.length} types`, "count");
    eq(await page.getAttribute("#shown", "role"), "status", "count is announced");
    /* Open a type page and come back: still nothing from outside. */
    await page.click("#groups tbody tr .c-name a");
    await page.goBack();
    eq(outside, [], "requests outside the site");
    await ctx.close();
  }
});

test("every filter alone, in pairs, with search; Reset restores all", async () => {
  const ctx = await B.newContext();
  const { page, outside } = await open(ctx, demo.dir, L.fileBase(demo.dir));
  const region = await options(page, "f-region"), side = await options(page, "f-side");
  const tag = await options(page, "f-tag");
  ok(region.length >= 5 && tag.length >= 10, "demo has regions and ROI tags");
  let nonEmpty = 0;
  for (const v of region)
    nonEmpty += (await check(page, demo.e, { region: v }, "region " + v)) > 0;
  for (const v of side)
    await check(page, demo.e, { side: v }, "side " + v);
  for (const v of tag)
    nonEmpty += (await check(page, demo.e, { tag: v }, "tag " + v)) > 0;
  eq(nonEmpty, region.length + tag.length, "every listed option matches some type");
  for (const r of region)
    for (const s of side)
      await check(page, demo.e, { region: r, side: s }, `region ${r} + side ${s}`);
  for (let i = 0; i < tag.length; i++)
    await check(page, demo.e, { tag: tag[i], side: side[i % side.length],
      region: region[i % region.length] }, `tag ${tag[i]} + side + region`);
  for (const q of ["t4", "kc ab", "mn", "zzz-no-such"])
    await check(page, demo.e, { q, region: "", side: "B" }, `search ${q} + side`);
  await show(page, { q: "t", region: region[0], side: "L", tag: tag[0] });
  await page.click("#f-reset");
  const got = await rows(page);
  eq(got.names.length, demo.e.rows.length, "Reset shows all");
  eq(await page.evaluate(() => ["q", "f-region", "f-side", "f-tag"].map((id) =>
    document.getElementById(id).value)), ["", "", "", ""], "Reset clears the form");
  eq(await page.evaluate(() => document.activeElement.id), "q", "Reset focuses the search");
  eq(outside, [], "requests outside the site");
  await ctx.close();
});

test("search: / focuses it, typing narrows, awkward names match, Enter opens", async () => {
  const ctx = await B.newContext();
  const { page, outside } = await open(ctx, awk.dir, srv.url + "awk/");
  await page.click("h1");
  await page.keyboard.press("/");
  eq(await page.evaluate(() => document.activeElement.id), "q", "/ focuses the search");
  eq(await page.inputValue("#q"), "", "/ is not typed");
  const names = awk.e.rows.map((r) => r.t.name);
  const tricky = names.filter((n) => /['\/,&(+ ]/.test(n));
  ok(tricky.length >= 6, "the awkward site has names with ' / , & ( + and blanks: " + tricky);
  for (const n of tricky) {
    await page.fill("#q", "");
    let last = Infinity;
    for (const ch of n) {	/* typing, one key at a time */
      await page.keyboard.type(ch);
      const k = (await rows(page)).names.length;
      ok(k <= last || /\s/.test(ch), `typing ${JSON.stringify(n)} narrows`);
      last = k;
    }
    const got = await rows(page);
    eq(got.names, want(awk.e, { q: n }), "search " + JSON.stringify(n));
    ok(got.names.includes(n), JSON.stringify(n) + " is found");
  }
  /* Enter opens the first shown type's first page, which exists. */
  const first = awk.e.rows.find((r) => /&/.test(r.t.name)).t;
  await page.fill("#q", first.name);
  const p = ["combined", "left", "right", "middle"].map((k) => first.urls[k]).find(Boolean);
  const [resp] = await Promise.all([page.waitForNavigation(), page.press("#q", "Enter")]);
  eq(resp.status(), 200, "Enter lands on an existing page");
  eq(decodeURIComponent(new URL(page.url()).pathname), "/awk/" + p, "Enter opens " + p);
  await page.goBack();
  /* A click on a side link opens that side's page. */
  const side = awk.e.rows.find((r) => r.t.urls.left).t;
  await page.fill("#q", side.name);
  const [r2] = await Promise.all([page.waitForNavigation(),
    page.click(`#groups a.side[title="Left page"]`)]);
  eq(r2.status(), 200, "the L link lands on an existing page");
  eq(outside, [], "requests outside the site");
  await ctx.close();
});

test("ROI tags: Tab reaches them, Enter filters, again clears", async () => {
  const ctx = await B.newContext();
  const { page, outside } = await open(ctx, demo.dir, L.fileBase(demo.dir));
  await page.focus("#f-reset");
  let tag = null;
  for (let i = 0; i < 20 && !tag; i++) {
    await page.keyboard.press("Tab");
    tag = await page.evaluate(() => document.activeElement.classList.contains("tag") ?
      document.activeElement.textContent : null);
  }
  ok(tag, "Tab reaches an ROI tag");
  await page.keyboard.press("Enter");
  eq(await page.inputValue("#f-tag"), tag, "Enter sets the ROI filter");
  const got = await rows(page);
  eq(got.names, want(demo.e, { tag }), "rows after a tag");
  const pressed = await page.$$eval(".tag[aria-pressed=true]", (b) =>
    [...new Set(b.map((x) => x.textContent))]);
  eq(pressed, [tag], "the pressed tags are that ROI's");
  await page.focus(".tag[aria-pressed=true]");
  await page.keyboard.press("Enter");
  eq(await page.inputValue("#f-tag"), "", "a second press clears it");
  eq((await rows(page)).names.length, demo.e.rows.length, "all rows again");
  await page.click(".tag");
  ok(await page.inputValue("#f-tag") !== "", "a click sets it too");
  await page.focus(".tag[aria-pressed=true]");
  await page.keyboard.press("Space");
  eq(await page.inputValue("#f-tag"), "", "Space presses a tag too");
  eq(outside, [], "requests outside the site");
  await ctx.close();
});

test("axe-core: no serious or critical finding (light, dark, quick)", async () => {
  for (const [site, scheme] of [[demo, "light"], [demo, "dark"], [quick, "light"]]) {
    const ctx = await B.newContext({ colorScheme: scheme });
    const { page } = await open(ctx, site.dir, L.fileBase(site.dir));
    const v = await L.axe(page);
    eq(v, [], `axe on ${path.basename(site.dir)} (${scheme})`);
    await ctx.close();
  }
});

test("at 390 px the names stay readable; screenshots", async () => {
  const ctx = await B.newContext({ viewport: { width: 390, height: 844 }, isMobile: true });
  const { page } = await open(ctx, demo.dir, L.fileBase(demo.dir));
  const m = await page.evaluate(() => ({
    overflow: document.scrollingElement.scrollWidth,
    name: Math.min(...[...document.querySelectorAll("#groups td.c-name")].slice(0, 50)
      .map((td) => td.getBoundingClientRect().width)),
  }));
  ok(m.overflow <= 390, "no sideways scrolling at 390 px: " + m.overflow);
  ok(m.name >= 150, "the name column is at least 150 px wide at 390 px: " + m.name);
  await ctx.close();
  const files = [];
  files.push(...await L.shots(B, L.fileBase(demo.dir) + "index.html", "flat-index"));
  files.push(...await L.shots(B, L.fileBase(demo.dir) + "index.html", "flat-index-filtered",
    async (p) => { await p.fill("#q", "t"); await p.selectOption("#f-side", "L"); }));
  files.push(...await L.shots(B, L.fileBase(quick.dir) + "index.html", "flat-index-quick"));
  for (const f of files)
    ok(fs.statSync(f).size > 5000, f + " written");
  console.log("# screenshots: " + files.join(" "));
});

test("without JavaScript every type is a link to an existing page", async () => {
  const ctx = await B.newContext({ javaScriptEnabled: false });
  const { page, outside } = await open(ctx, awk.dir, L.fileBase(awk.dir));
  const links = await page.$$eval("main a", (as) => as.map((a) => [a.textContent,
    decodeURIComponent(new URL(a.href).pathname)]));
  const text = await page.textContent("main");
  for (const { t } of awk.e.rows)
    ok(text.includes(t.name), t.name + " listed without JavaScript");
  const want = awk.e.rows.reduce((k, { t }) => k + Object.keys(t.urls).length, 0) + 1;
  eq(links.length, want, "one link per page, and types.json");
  for (const [, p] of links)
    ok(fs.existsSync(p), p + " exists");
  ok(await page.isHidden("#filters"), "the filters are hidden without JavaScript");
  eq(outside, [], "requests outside the site");
  await ctx.close();
});

L.run(async () => {
  work = L.tmpdir("qp-browser-flat-");
  const mk = (name, o) => {
    const dir = L.buildSite(work, name, o);
    return { dir, e: expect(dir) };
  };
  demo = mk("demo", { scale: "demo" });
  awk = mk("awk", { scale: "tiny", awkward: true });
  quick = mk("quick", { scale: "tiny", quick: true });
  srv = await L.serve(work);
  B = await L.launch();
  return {};
}, async () => {
  await B.close();
  await srv.close();
});
