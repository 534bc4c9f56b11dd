#!/usr/bin/env node
/*
 * bench/browser.js [--runs N] NAME=DIR/PAGE ...: the index pages in
 * headless Chromium (Debian's, through tests/browser/lib.js), over a
 * loopback HTTP server. Per page: bytes raw and gzip; per run, in a fresh
 * browser context: first contentful paint, time to interactive, and the
 * time per search keystroke and per filter change (p50, p95). Prints one
 * JSON object; bench.py's "browser" scenario reports it (numbers, never
 * pass/fail).
 *
 * Interactive = the later of DOMContentLoaded's end (the page's script is
 * inline at the end of the body, so its handlers are in place by then) and
 * the end of the last long task (> 50 ms, PerformanceObserver) in the first
 * 3 s. A keystroke or filter change is timed in the page from the input
 * event to the next frame (requestAnimationFrame, then a task): script,
 * style, layout and paint of what it changed; handler_p50/p95 are the
 * event handler's own time (the script's share of both).
 */
"use strict";

const fs = require("fs");
const path = require("path");
const zlib = require("zlib");
const L = require(path.join(__dirname, "..", "tests", "browser", "lib.js"));

const PAGES = {
  /* search box, the selects to cycle through, typed queries */
  "index.html": { q: "#q", selects: ["#f-region", "#f-side", "#f-tag"] },
  "types.html": { q: "#f-name", selects: ["#f-roi", "#f-region", "#f-nt", "#f-superclass",
    "#f-class", "#f-side", "#f-count", "#f-sort"] },
};
const QUERIES = ["t4a", "kcab", "mi1", "dnp", "lc10", "an07b", "sa"];

function pct(xs, p) {
  const s = xs.slice().sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : null;
}

function median(xs) {
  return pct(xs, 0.5);
}

async function once(browser, url, kind) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  await page.addInitScript(() => {
    window.__long = [];
    new PerformanceObserver((l) => {
      for (const e of l.getEntries())
        window.__long.push(e.startTime + e.duration);
    }).observe({ type: "longtask", buffered: true });
  });
  await page.goto(url, { waitUntil: "load" });
  await page.waitForTimeout(3000);
  const load = await page.evaluate(() => {
    const nav = performance.getEntriesByType("navigation")[0];
    const fcp = performance.getEntriesByName("first-contentful-paint")[0];
    const lastLong = window.__long.filter((t) => t < 3000);
    return { fcp_ms: fcp ? fcp.startTime : null,
      dcl_ms: nav.domContentLoadedEventEnd, load_ms: nav.loadEventEnd,
      tti_ms: Math.max(nav.domContentLoadedEventEnd, ...lastLong) };
  });
  const cfg = PAGES[kind];
  const r = await page.evaluate(async ({ cfg, queries }) => {
    const frame = () => new Promise((res) => requestAnimationFrame(() => setTimeout(res, 0)));
    /* The handler alone (script, and any layout it forces) goes in JS. */
    const js = [];
    async function timed(fn) {
      const t = performance.now();
      fn();
      js.push(performance.now() - t);
      await frame();
      return performance.now() - t;
    }
    const q = document.querySelector(cfg.q), keys = [], changes = [];
    for (const word of queries) {
      for (const ch of word)
        keys.push(await timed(() => {
          q.value += ch;
          q.dispatchEvent(new Event("input", { bubbles: true }));
        }));
      q.value = "";
      q.dispatchEvent(new Event("input", { bubbles: true }));
      await frame();
    }
    for (const sel of cfg.selects) {
      const s = document.querySelector(sel);
      const vals = [...s.options].map((o) => o.value).filter(Boolean);
      const step = Math.max(1, Math.floor(vals.length / 12));
      for (let i = 0; i < vals.length; i += step) {
        changes.push(await timed(() => {
          s.value = vals[i];
          s.dispatchEvent(new Event("change", { bubbles: true }));
        }));
        changes.push(await timed(() => {	/* and back to all */
          s.value = s.options[0].value;
          s.dispatchEvent(new Event("change", { bubbles: true }));
        }));
      }
    }
    return { keys, changes, js };
  }, { cfg, queries: QUERIES });
  await ctx.close();
  return Object.assign(load, {
    key_p50_ms: pct(r.keys, 0.5), key_p95_ms: pct(r.keys, 0.95), keys: r.keys.length,
    change_p50_ms: pct(r.changes, 0.5), change_p95_ms: pct(r.changes, 0.95),
    changes: r.changes.length, handler_p50_ms: pct(r.js, 0.5), handler_p95_ms: pct(r.js, 0.95) });
}

async function main() {
  const args = process.argv.slice(2);
  let runs = 3;
  if (args[0] === "--runs") {
    runs = Number(args[1]);
    args.splice(0, 2);
  }
  const out = {};
  const browser = await L.launch();
  for (const a of args) {
    const [name, file] = a.split("=");
    const dir = path.dirname(file), kind = path.basename(file);
    const raw = fs.readFileSync(file);
    const srv = await L.serve(dir);
    const res = { page: kind, bytes: raw.length, gzip_bytes: zlib.gzipSync(raw).length,
      runs: [] };
    for (let i = 0; i < runs; i++)
      res.runs.push(await once(browser, srv.url + kind, kind));
    for (const k of Object.keys(res.runs[0]))
      if (typeof res.runs[0][k] === "number")
        res[k] = median(res.runs.map((r) => r[k]));
    await srv.close();
    out[name] = res;
    process.stderr.write(`bench/browser: ${name}: fcp ${res.fcp_ms.toFixed(0)} ms, ` +
      `tti ${res.tti_ms.toFixed(0)} ms, key p95 ${res.key_p95_ms.toFixed(1)} ms, ` +
      `change p95 ${res.change_p95_ms.toFixed(1)} ms\n`);
  }
  await browser.close();
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error("bench/browser: " + (e.stack || e));
  process.exit(1);
});
