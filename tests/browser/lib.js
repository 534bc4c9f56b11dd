/*
 * Shared pieces of the browser tests and bench/browser.js: Debian's
 * chromium driven by playwright-core (npm, tests/browser/package-lock.json,
 * installed by tools/deps with npm ci; no browser download), a site built
 * by site.py, a loopback HTTP server, a guard that fails on any request
 * leaving the site, axe-core, screenshots, and a tiny sequential runner.
 */
"use strict";

const fs = require("fs");
const http = require("http");
const os = require("os");
const path = require("path");
const url = require("url");
const { execFileSync } = require("child_process");

const HERE = __dirname;
const ROOT = path.resolve(HERE, "..", "..");

function need(mod) {
  try {
    return require(mod);
  } catch (e) {
    throw new Error(`${mod} is not installed: run tools/deps (npm ci in ` +
      `tests/browser) (${e.message})`);
  }
}

const { chromium } = need("playwright-core");
const AXE = fs.readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const CHROMIUM = process.env.QP_CHROMIUM || "/usr/bin/chromium";

async function launch() {
  if (!fs.existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} missing: tools/deps installs Debian's chromium`);
  return chromium.launch({
    executablePath: CHROMIUM,
    /*
     * --no-sandbox: the tests run as root in CI and in tools/fresh-debian's
     * chroot, and Chromium refuses to start its setuid/namespace sandbox as
     * root; the pages are our own, from a local directory, so the sandbox
     * guards nothing here. --disable-dev-shm-usage: containers often have a
     * 64 MB /dev/shm, too small for a renderer at cns scale.
     */
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
      "--no-first-run", "--disable-extensions",
      "--disable-background-networking", "--disable-component-update"],
  });
}

/* A temporary directory that goes away at exit. */
function tmpdir(prefix) {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  process.on("exit", () => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

/* site.py: the emulator's pages of SCALE and LAYOUT, indexed by quickpaged. */
function buildSite(work, name, opts) {
  const out = path.join(work, name);
  const args = [path.join(HERE, "site.py"), out, "--scale", opts.scale || "tiny",
    "--layout", opts.layout || "quickpage"];
  if (opts.awkward)
    args.push("--awkward");
  if (opts.quick)
    args.push("--quick");
  execFileSync("/usr/bin/python3", args, { stdio: ["ignore", "ignore", "inherit"],
    env: Object.assign({}, process.env, { PYTHONDONTWRITEBYTECODE: "1" }) });
  return out;
}

const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript",
  ".json": "application/json", ".css": "text/css", ".md": "text/markdown" };

/* A static file server for DIR on 127.0.0.1 (ephemeral port). */
function serve(dir) {
  return new Promise((resolve) => {
    const srv = http.createServer((req, res) => {
      let p;
      try {
        p = decodeURIComponent(new URL(req.url, "http://x").pathname);
      } catch (e) {
        res.writeHead(400).end();
        return;
      }
      const f = path.join(dir, path.normalize(p));
      if (!f.startsWith(dir) || !fs.existsSync(f) || !fs.statSync(f).isFile()) {
        res.writeHead(404).end("not found");
        return;
      }
      res.writeHead(200, { "Content-Type": TYPES[path.extname(f)] ||
        "application/octet-stream" });
      fs.createReadStream(f).pipe(res);
    });
    srv.listen(0, "127.0.0.1", () => {
      resolve({ url: `http://127.0.0.1:${srv.address().port}/`,
        close: () => new Promise((r) => srv.close(r)) });
    });
  });
}

/*
 * Every request the page makes must stay inside BASE (the site's file://
 * directory or its loopback URL); others are aborted and recorded in the
 * returned list, which the tests require to be empty.
 */
async function guard(page, base) {
  const outside = [];
  await page.route("**/*", (route) => {
    const u = route.request().url();
    if (u.startsWith(base) || u.startsWith("data:") || u === "about:blank")
      return route.continue();
    outside.push(u);
    return route.abort();
  });
  page.on("pageerror", (e) => outside.push("page error: " + e.message));
  return outside;
}

function fileBase(dir) {
  return url.pathToFileURL(dir).href + "/";
}

/* axe-core's serious and critical findings on PAGE, as short strings. */
async function axe(page) {
  await page.addScriptTag({ content: AXE });
  const r = await page.evaluate(async () => {
    const res = await window.axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa",
        "best-practice"] },
      resultTypes: ["violations"],	/* details of passes cost time, unused */
    });
    return res.violations.filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => `${v.id} (${v.impact}, ${v.nodes.length}×): ${v.help}; first: ` +
        v.nodes[0].target.join(" ") + " " + (v.nodes[0].failureSummary || "").split("\n").slice(0, 2).join(" "));
  });
  return r;
}

/* Screenshots go to QP_BROWSER_LOG_DIR (meson: build/meson-logs/browser). */
const LOGDIR = process.env.QP_BROWSER_LOG_DIR ||
  path.join(ROOT, "build", "meson-logs", "browser");

async function shots(browser, pageUrl, name, prep) {
  fs.mkdirSync(LOGDIR, { recursive: true });
  const files = [];
  for (const [w, h, tag] of [[1280, 800, "desktop"], [390, 844, "phone"]]) {
    const ctx = await browser.newContext({ viewport: { width: w, height: h },
      deviceScaleFactor: 1, isMobile: w < 500, hasTouch: w < 500 });
    const page = await ctx.newPage();
    await page.goto(pageUrl);
    if (prep)
      await prep(page);
    const f = path.join(LOGDIR, `${name}-${tag}-${w}x${h}.png`);
    await page.screenshot({ path: f });
    files.push(f);
    await ctx.close();
  }
  return files;
}

/* ---- a sequential runner: test(name, fn); run() exits 1 on any failure ---- */
const tests = [];
function test(name, fn) { tests.push([name, fn]); }

async function run(setup, teardown) {
  let failed = 0, ctx;
  const t0 = Date.now();
  try {
    ctx = await setup();
  } catch (e) {
    console.log(`not ok setup: ${e.stack || e}`);
    process.exit(1);
  }
  for (const [name, fn] of tests) {
    const t = Date.now();
    try {
      await fn(ctx);
      console.log(`ok ${name} (${Date.now() - t} ms)`);
    } catch (e) {
      failed++;
      console.log(`not ok ${name}: ${e.stack || e}`);
    }
  }
  if (teardown)
    await teardown(ctx);
  console.log(`${tests.length - failed} passed, ${failed} failed ` +
    `(${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  process.exit(failed ? 1 : 0);
}

function eq(got, want, what) {
  const g = JSON.stringify(got), w = JSON.stringify(want);
  if (g !== w)
    throw new Error(`${what}: got ${g.slice(0, 300)}, want ${w.slice(0, 300)}`);
}

function ok(v, what) {
  if (!v)
    throw new Error(what);
}

module.exports = { launch, tmpdir, buildSite, serve, guard, fileBase, axe, shots,
  test, run, eq, ok, LOGDIR, ROOT };
