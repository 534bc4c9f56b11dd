#!/usr/bin/env node
/*
 * render_check.js OUTDIR N: load OUTDIR/static/js/neuron-search.js the way a
 * browser would (a plain script, globals on the global object) in node's vm,
 * and check NEURON_TYPES_DATA and NEURON_DATA against OUTDIR/types.json.
 * Run by test_render; exits 0 and prints "ok" when all holds.
 */
"use strict";

const fs = require("fs");
const path = require("path");
const vm = require("vm");

function fail(msg) {
  console.error("render_check: " + msg);
  process.exit(1);
}

const [outdir, nArg] = process.argv.slice(2);
if (!outdir || nArg === undefined)
  fail("usage: render_check.js OUTDIR N");
const n = Number(nArg);
const jsPath = path.join(outdir, "static", "js", "neuron-search.js");
const src = fs.readFileSync(jsPath, "utf8");
const types = JSON.parse(fs.readFileSync(path.join(outdir, "types.json"), "utf8")).types;

if (/<\/script/i.test(src))
  fail("neuron-search.js holds a raw </script");
if (/[\u2028\u2029]/.test(src))
  fail("neuron-search.js holds a raw U+2028/U+2029");

/* 1: no DOM at all (node, workers): must load without throwing. */
const bare = vm.createContext({});
try {
  vm.runInContext(src, bare, { filename: jsPath });
} catch (e) {
  fail("does not run without a DOM: " + e);
}

/* 2: a page without the #menulines box: the helper must stay quiet. */
const listeners = {};
const page = {
  document: {
    addEventListener(type, fn) { listeners[type] = fn; },
    getElementById() { return null; },
  },
};
page.window = page;
vm.createContext(page);
vm.runInContext(src, page, { filename: jsPath });
if (typeof listeners.DOMContentLoaded !== "function")
  fail("helper does not wait for DOMContentLoaded");
listeners.DOMContentLoaded();

const g = bare;
if (!Array.isArray(g.NEURON_TYPES_DATA))
  fail("NEURON_TYPES_DATA is not a global array");
if (!Array.isArray(g.NEURON_DATA))
  fail("NEURON_DATA is not a global array");
if (g.NEURON_TYPES_DATA.length !== n)
  fail(`NEURON_TYPES_DATA has ${g.NEURON_TYPES_DATA.length} names, want ${n}`);
if (g.NEURON_DATA.length !== n)
  fail(`NEURON_DATA has ${g.NEURON_DATA.length} entries, want ${n}`);
if (types.length !== n)
  fail(`types.json has ${types.length} types, want ${n}`);

const sides = ["both", "left", "right", "middle"];
for (let i = 0; i < n; i++) {
  const t = types[i], d = g.NEURON_DATA[i];
  if (i > 0 && Buffer.compare(Buffer.from(types[i - 1].name), Buffer.from(t.name)) >= 0)
    fail(`types.json not in byte order at ${i}`);
  if (g.NEURON_TYPES_DATA[i] !== t.name)
    fail(`NEURON_TYPES_DATA[${i}] = ${JSON.stringify(g.NEURON_TYPES_DATA[i])}, want ${JSON.stringify(t.name)}`);
  if (d.name !== t.name)
    fail(`NEURON_DATA[${i}].name = ${JSON.stringify(d.name)}, want ${JSON.stringify(t.name)}`);
  // types.json (schema 2) calls the combined page "combined", the script "both".
  const urls = {};
  for (const [k, v] of Object.entries(t.urls))
    urls[k === "combined" ? "both" : k] = v;
  if (JSON.stringify(d.urls) !== JSON.stringify(urls))
    fail(`NEURON_DATA[${i}].urls = ${JSON.stringify(d.urls)}, want ${JSON.stringify(urls)}`);
  const want = sides.map((s) => urls[s]).find((u) => u !== undefined);
  if (d.primary_url !== (want === undefined ? null : want))
    fail(`NEURON_DATA[${i}].primary_url = ${JSON.stringify(d.primary_url)}, want ${JSON.stringify(want)}`);
  for (const k of Object.keys(d.urls))
    if (!sides.includes(k))
      fail(`NEURON_DATA[${i}].urls has key ${k}`);
}

if (n > 0) {
  const hit = g.NeuronSearch.find(g.NEURON_TYPES_DATA[0]);
  if (hit[0] !== g.NEURON_TYPES_DATA[0])
    fail("NeuronSearch.find does not rank the exact name first");
}
console.log(`render_check: ok ${n} types`);
