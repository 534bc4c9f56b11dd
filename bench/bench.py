"""quickpage benchmarks: scenarios of issue 6 against the emulator.

Each figure is N runs (median, min, max). Numbers are reported, never
asserted: the exit status is non-zero only when a scenario could not run.
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build-bench")
os.environ["QUICKPAGED"] = os.path.join(BUILD, "daemon", "quickpaged")
os.environ["QPCTL"] = os.path.join(BUILD, "client", "qpctl")
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import harness as h  # noqa: E402
import daemon_harness as dh  # noqa: E402
import res_harness as rh  # noqa: E402
import hostile_harness as hh  # noqa: E402
import qp_pattern as qpp  # noqa: E402

TARGETS = {
    "cold_vs_floor": ("cold cns wall / floor_s", "<=", 1.5),
    "batched_speedup": ("per-type wall / batched wall (same dataset)", ">=", 100),
    "quick_s": ("--quick on the cns page set, seconds", "<=", 0.2),
    "scan_s": ("scan of the cns page set, seconds", "<=", 0.05),
    "peak_rss_mb": ("peak RSS at cns, MB", "<=", 150),
    "daemon_idle_rss_mb": ("daemon idle RSS, MB", "<=", 10),
    "neuview_vs_flat": ("cold cns neuview-layout wall / flat wall (issue 14)", "<=", 1.25),
    "warm_s": ("warm run (dataset unchanged) at cns, seconds", "<=", 0.5),
    "warm_requests": ("warm run at cns, requests", "<=", 1),
    "new1pct_s": ("1 % of the pages new at cns, seconds", "<=", 1.0),
    "new1pct_requests": ("1 % of the pages new at cns, requests", "<=", 3),
    "changed_vs_cold": ("dataset changed / cold (empty cache), wall", "<=", 1.1),
    "cache_mb": ("cache file at cns, MB", "<=", 50),
    "hostile_p99_ms": ("another user's ping p99 under the worst hostile-client attack, ms",
                       "<=", 100),
    "hostile_rss_mb": ("daemon peak RSS under the worst hostile-client attack, MB", "<=", 100),
    "browser_fcp_s": ("first contentful paint at cns, both layouts, worst, s (issue 16)", "<=", 0.5),
    "browser_tti_s": ("interactive at cns, both layouts, worst, s", "<=", 1.0),
    "browser_key_p95_ms": ("search keystroke p95 at cns, worst layout, ms", "<=", 50),
    "browser_change_p95_ms": ("filter change p95 at cns, worst layout, ms", "<=", 50),
    "types_html_vs_neuview": ("types.html bytes / neuView's list (1.56 KB a type)", "<=", 0.5),
}

# Attacks on the daemon's socket (tests/integration/hostile_harness.py):
# kind, connections. As user 65534; the pings as user 4242.
HOSTILE = [("flood", 1000), ("slow", 100), ("noread", 8), ("garbage", 16),
           ("oversized", 64), ("halfclose", 64)]

# neuView's own type list, whitespace collapsed, per type (issue 16).
NEUVIEW_LIST_BYTES_PER_TYPE = 1560


def stats(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return None
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def run_job_rss(cfg, *args):
    """quickpaged --run create-index --json: (summary, wall s, peak RSS MB).

    Reaped with wait4 for the child's own rusage (subprocess.run's wait
    would discard it). stderr goes to a file, so that a chatty child can
    never block on one pipe while we read the other.
    """
    t0 = time.monotonic()
    with tempfile.TemporaryFile() as err:
        p = subprocess.Popen([os.environ["QUICKPAGED"], "--run", "create-index", "--config",
                              cfg, "--json"] + list(args), stdout=subprocess.PIPE, stderr=err)
        out = p.stdout.read()
        p.stdout.close()
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - t0
        if p.returncode != 0:
            err.seek(0)
            raise RuntimeError("quickpaged failed: %s"
                               % err.read().decode(errors="replace").strip())
    summary = json.loads(out.decode().strip().splitlines()[-1])
    return summary, wall, ru.ru_maxrss / 1024.0


def site(work, scale):
    out = os.path.join(work, "site-" + scale)
    if not os.path.isdir(out):
        h.make_pages(out, scale)
    return out


def config(work, emu, out, name="site.yaml", extra=""):
    return h.write_config(os.path.join(work, name), emu.url, out, emu.ca, extra=extra)


def strip(path):
    return rh.without_generated_at(h.load_types(path))


def series(cfg, runs, *args):
    """RUNS jobs on one config: per-run wall, requests, bytes and peak RSS."""
    out = []
    for _ in range(runs):
        s, wall, rss = run_job_rss(cfg, *args)
        out.append({"wall_s": wall, "job_wall_s": s["wall_s"], "requests": s["requests"],
                    "bytes_in": s["bytes_in"], "peak_rss_mb": rss})
    return out


def scenario_cold(work, scale, runs):
    out = site(work, scale)
    res = {"scale": scale}
    with h.Emulator(work, scale) as emu:
        res["runs"] = series(config(work, emu, out), runs, "--no-cache")
        st = emu.admin("/emu/stats")
        res["floor_s"] = st["floor_s"]
        res["emu_exec_model_s"] = st.get("exec_model_s")
        res["emu_cpu_s"] = st.get("handler_cpu_s")          # all RUNS jobs together
        if res["emu_cpu_s"] is not None:
            res["emu_cpu_per_run_s"] = res["emu_cpu_s"] / runs
        # misses > 0: quickpage's batches are not the emulator's warm
        # queries (tests/neuprint-emu/emu/warm.py), so its own CPU is back
        res["emu_memo"] = st.get("memo")
    res["reference"] = strip(out)
    for k in ("wall_s", "requests", "bytes_in", "peak_rss_mb"):
        res[k] = stats([r[k] for r in res["runs"]])
    res["ratio_to_floor"] = res["wall_s"]["median"] / res["floor_s"]
    return res


def scenario_neuview(work, scale, runs):
    """Issue 14: cold runs of the same dataset on a flat and on a neuView
    site, alternating on one emulator: wall ratio (target <= 1.25) and the
    request counts, which must not differ."""
    flat = site(work, scale)
    nv = os.path.join(work, "site-%s-neuview" % scale)
    if not os.path.isdir(nv):
        h.make_pages(nv, scale, layout="neuview")
    res = {"scale": scale, "flat": [], "neuview": []}
    with h.Emulator(work, scale) as emu:
        cf = config(work, emu, flat, name="flat.yaml")
        cn = config(work, emu, nv, name="neuview.yaml")
        # --no-cache: cold runs, as issue 14 means (the persistent cache
        # came later; without it all but the first run of each were warm).
        for _ in range(runs):
            res["flat"] += series(cf, 1, "--no-cache")
            res["neuview"] += series(cn, 1, "--no-cache")
    for k in ("flat", "neuview"):
        res[k + "_wall_s"] = stats([r["wall_s"] for r in res[k]])
        res[k + "_requests"] = stats([r["requests"] for r in res[k]])
    res["ratio"] = res["neuview_wall_s"]["median"] / res["flat_wall_s"]["median"]
    res["sizes"] = {p: os.path.getsize(os.path.join(nv, p))
                    for p in ("types.json", "data/neurons.json", "data/neurons.js",
                              "index.html", "help.html", "README.md")}
    return res


def scenario_baseline(work, scale, runs, batched):
    out = site(work, scale)
    res = {"scale": scale}
    with h.Emulator(work, scale) as emu:
        res["runs"] = series(config(work, emu, out), runs, "--strategy", "per-type")
    res["identical_to_batched"] = strip(out) == batched["reference"]
    for k in ("wall_s", "requests", "bytes_in"):
        res[k] = stats([r[k] for r in res["runs"]])
    res["speedup"] = res["wall_s"]["median"] / batched["wall_s"]["median"]
    return res


# QuickPage's pattern: types replayed (a fixed seeded sample, then
# extrapolated: at 3-5 sequential round trips and ~0.8-1.6 MB a type,
# every type takes 11-16 minutes at demo and hours at cns).
QP_SAMPLE = {"demo": 40, "cns": 100}
QP_SEED = 24


def scenario_qppattern(work, scale, n, cold, newer):
    """Issue 24: QuickPage 56a65d8's create-index replayed against the
    emulator (bench/qp_pattern.py): neuprint-python 0.5.1 as QuickPage's
    lock pins it and, with NEWER, the same with the GET /api/version that
    0.5.2 and later send before every custom query. Each on an emulator of
    its own, as cold runs are. A sample of N types (0: all), extrapolated
    to every type; the ratio is to quickpaged's cold run of the site."""
    out = site(work, scale)
    names = qpp.type_names(out)
    res = {"scale": scale, "types": len(names), "seed": QP_SEED,
           "quickpage": "floesche/neuView 56a65d8"}
    for key, versions in [("np051", False)] + ([("np052", True)] if newer else []):
        with h.Emulator(work, scale) as emu:
            if "strata" not in res:
                groups = qpp.strata(names, qpp.dataset_types(emu.url, emu.ca, emu.token,
                                                             emu.dataset))
                picked = qpp.sample(groups, n, QP_SEED)
                res["strata"] = {g: len(v) for g, v in groups.items()}
                res["sampled"] = sum(len(v) for v in picked.values())
                res["sampled_strata"] = {g: len(v) for g, v in picked.items()}
            run = qpp.replay(emu.url, emu.ca, emu.token, emu.dataset,
                             sorted(x for v in picked.values() for x in v), versions)
        est = qpp.extrapolate(run, groups, picked)
        r = {"sample": {k: run[k] for k in ("wall_s", "requests", "bytes_in", "once",
                                           "by_kind", "reconnects")},
             "per_type": [[p["name"], round(p["wall_s"], 4), p["requests"], p["bytes_in"]]
                          for p in run["per_type"]],
             "estimate": est}
        if cold:
            r["vs_cold"] = est["wall_s"]["estimate"] / cold["wall_s"]["median"]
            r["vs_cold_requests"] = est["requests"]["estimate"] / cold["requests"]["median"]
        res[key] = r
    if cold:
        res["cold_wall_s"] = cold["wall_s"]["median"]
        res["cold_requests"] = cold["requests"]["median"]
    return res


def scenario_quick(work, runs):
    out = site(work, "cns")
    cfg = h.write_config(os.path.join(work, "quick.yaml"), "https://127.0.0.1:9", out)
    walls, scans, pages = [], [], 0
    for _ in range(runs + 1):
        s, wall, _ = run_job_rss(cfg, "--quick")
        walls.append(wall)
        scans.append(s["stage_s"]["scan"])
        pages = s["pages"]
    # The first run warms the page cache of the directory; it is not counted.
    return {"pages": pages, "wall_s": stats(walls[1:]), "scan_s": stats(scans[1:])}


def scenario_faults(work, scale, runs, reference):
    out = site(work, scale)
    res = {"scale": scale, "fault_rate": 0.05, "capacity": 4, "runs": []}
    extra = ["--fault-rate", "0.05", "--capacity", "4", "--stall-s", "3"]
    with h.Emulator(work, scale, extra=extra) as emu:
        cfg = config(work, emu, out, "faults.yaml",
                     extra="  low_speed_time_s: 2\n  request_timeout_s: 30\n")
        for _ in range(runs):
            s, wall, _ = run_job_rss(cfg, "--no-cache")
            res["runs"].append({"wall_s": wall, "requests": s["requests"],
                                "retries": s["retries"],
                                "retries_by_cause": s["retries_by_cause"]})
            res.setdefault("identical", True)
            res["identical"] = res["identical"] and strip(out) == reference
    res["wall_s"] = stats([r["wall_s"] for r in res["runs"]])
    res["retries"] = stats([r["retries"] for r in res["runs"]])
    return res


def page_bytes(path):
    import gzip
    with open(path, "rb") as f:
        raw = f.read()
    return {"bytes": len(raw), "gzip_bytes": len(gzip.compress(raw, 6))}


def scenario_browser(work, scale, runs):
    """Issue 16: the index pages of both layouts in headless Chromium
    (bench/browser.js, over loopback HTTP): bytes raw and gzip, first
    contentful paint, interactive, keystroke and filter-change p50/p95,
    median of RUNS page loads. The machine's load average is recorded
    beside them: on a shared machine it moves every figure."""
    flat = site(work, scale)
    nv = os.path.join(work, "site-%s-neuview" % scale)
    if not os.path.isdir(nv):
        h.make_pages(nv, scale, layout="neuview")
    with h.Emulator(work, scale) as emu:
        run_job_rss(config(work, emu, flat, name="bflat.yaml"), "--no-cache")
        run_job_rss(config(work, emu, nv, name="bneuview.yaml"), "--no-cache")
    load0 = os.getloadavg()
    r = subprocess.run(["node", os.path.join(ROOT, "bench", "browser.js"), "--runs", str(runs),
                        "flat=" + os.path.join(flat, "index.html"),
                        "neuview=" + os.path.join(nv, "types.html")],
                       stdout=subprocess.PIPE, check=True, timeout=1800)
    res = json.loads(r.stdout)
    res["scale"] = scale
    res["loadavg_before_after"] = [load0[0], os.getloadavg()[0]]
    n = len(h.load_types(nv)["types"])
    res["types"] = n
    res["neuview"]["neuview_list_bytes"] = NEUVIEW_LIST_BYTES_PER_TYPE * n
    res["neuview"]["vs_neuview_list"] = res["neuview"]["bytes"] / (NEUVIEW_LIST_BYTES_PER_TYPE * n)
    res["neuview_home"] = page_bytes(os.path.join(nv, "index.html"))
    res["flat_types_json"] = page_bytes(os.path.join(flat, "types.json"))
    return res


def cache_bytes(d):
    return sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d)
               if f.startswith("cache.db") and ".bad-" not in f)


def scenario_cache(work, scale, runs, reference):
    """The persistent cache (issue 15), each figure beside a cold run with an
    empty cache on the same server (port), each cold and each "changed" run
    the first job of a fresh emulator: warm (unchanged), 1 % of the pages
    new (a set of types added), dataset changed (--mutate-frac: new uuid and
    lastDatabaseEdit, same server)."""
    out = site(work, scale)
    cdir = os.path.join(work, "qp-cache")
    res = {"scale": scale}

    def one(cfg, *args):
        s, wall, rss = run_job_rss(cfg, *args)
        return {"wall_s": wall, "requests": s["requests"], "hits": s["cache"]["hits"],
                "misses": s["cache"]["misses"], "peak_rss_mb": rss}

    def summarize(name, rs):
        res[name] = {"runs": rs}
        for k in ("wall_s", "requests", "hits", "misses"):
            res[name][k] = stats([r[k] for r in rs])

    # Each cold run on an emulator of its own, as each "changed" run is
    # below: an emulator's first job costs it ~0.8 s more CPU than its
    # later ones (it parses each new query text once), so a cold figure
    # of a reused emulator would flatter cold against "changed".
    cold = []
    port = 0
    for _ in range(runs):
        extra = ["--port", str(port)] if port else []
        with h.Emulator(work, scale, extra=extra) as emu:
            port = int(emu.url.rsplit(":", 1)[1])
            cfg = config(work, emu, out, "cache.yaml", extra="  cache_dir: %s\n" % cdir)
            shutil.rmtree(cdir, ignore_errors=True)
            cold.append(one(cfg))
    summarize("cold", cold)
    res["cache_bytes"] = cache_bytes(cdir)
    with h.Emulator(work, scale, extra=["--port", str(port)]) as emu:
        summarize("warm", [one(cfg) for _ in range(runs)])
        res["warm_identical"] = strip(out) == reference
        # 1 %: the pages of 1 % of the stems (whole types) arrive after a run.
        stems = sorted({p[:-5].rsplit("_", 1)[0] if p[:-5].rsplit("_", 1)[-1] in ("L", "R", "M")
                        else p[:-5] for p in os.listdir(out)
                        if p.endswith(".html") and p != "index.html"})
        later = set(stems[::100])
        held = os.path.join(work, "held")
        moved = []
        new = []
        for _ in range(runs):
            shutil.rmtree(cdir, ignore_errors=True)
            os.makedirs(held, exist_ok=True)
            for p in os.listdir(out):
                if p.endswith(".html") and p != "index.html":
                    b = p[:-5]
                    st = b.rsplit("_", 1)[0] if b.rsplit("_", 1)[-1] in ("L", "R", "M") else b
                    if st in later or b in later:
                        shutil.move(os.path.join(out, p), held)
                        moved.append(p)
            one(cfg)
            for p in moved:
                shutil.move(os.path.join(held, p), out)
            moved = []
            new.append(one(cfg))
        summarize("new_1pct", new)
        res["new_1pct"]["stems_new"] = len(later)
        res["new_identical"] = strip(out) == reference
    # Dataset changed: the same server (port) comes back with another
    # version, alternately mutated and not; each run follows a full cache
    # of the other version.
    changed = []
    flags = [("--mutate-frac", "0.05"), ()]
    for i in range(runs):
        extra = list(flags[i % 2]) + ["--port", str(port)]
        with h.Emulator(work, scale, extra=extra) as emu:
            changed.append(one(cfg))
    summarize("changed", changed)
    res["changed_vs_cold"] = res["changed"]["wall_s"]["median"] / res["cold"]["wall_s"]["median"]
    return res


def daemon_job(d, site_name):
    t0 = time.monotonic()
    # --no-cache: each job fetches everything, as the figures always meant.
    r = subprocess.run([os.environ["QPCTL"], "--socket", d.socket, "submit", "create-index",
                        site_name, "--wait", "--no-cache"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=1800)
    if r.returncode != 0:
        raise RuntimeError("daemon job failed: " + r.stderr.strip())
    return time.monotonic() - t0


def scenario_daemon(work, scale, runs):
    out = site(work, scale)
    res = {"scale": scale}
    with h.Emulator(work, scale) as emu:
        cfg = config(work, emu, out, "dsite.yaml")
        dwork = os.path.join(work, "daemon")
        os.makedirs(dwork, exist_ok=True)
        settings = dh.write_settings(os.path.join(dwork, "qp.yaml"), dwork, {"bench": cfg},
                                     roots=[work], extra={"log_level": "warning"})
        d = dh.Daemon(settings, dwork).start()
        try:
            time.sleep(1)
            res["idle_rss_mb"] = d.rss_kb() / 1024.0
            quiet = [daemon_job(d, "bench") for _ in range(runs)]
            lat, loaded = [], []
            for _ in range(runs):
                stop = threading.Event()

                def poll():
                    while not stop.is_set():
                        t = time.monotonic()
                        subprocess.run([os.environ["QPCTL"], "--socket", d.socket, "status"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                        lat.append(time.monotonic() - t)
                        time.sleep(max(0.0, 0.02 - (time.monotonic() - t)))
                th = threading.Thread(target=poll)
                th.start()
                try:
                    loaded.append(daemon_job(d, "bench"))
                finally:
                    stop.set()
                    th.join()
            res["rss_after_jobs_mb"] = d.rss_kb() / 1024.0
        finally:
            d.stop()
    lat.sort()
    res["job_s_quiet"] = stats(quiet)
    res["job_s_loaded"] = stats(loaded)
    res["slowdown"] = res["job_s_loaded"]["median"] / res["job_s_quiet"]["median"]
    res["status_calls"] = len(lat)
    res["status_rate_per_s"] = len(lat) / sum(loaded) if loaded else 0
    res["status_latency_ms"] = {"median": 1000 * statistics.median(lat),
                                "p99": 1000 * lat[int(0.99 * (len(lat) - 1))],
                                "max": 1000 * lat[-1]} if lat else None
    return res


def scenario_hostile(work, pings):
    """Another user's ping latency and the daemon's RSS under each attack
    (default settings: max_clients 128, max_clients_per_user 32,
    idle_timeout_ms 30000). Needs root, to act as other users."""
    if os.getuid() != 0:
        raise RuntimeError("needs root (attackers and the pinging client run as other users)")
    # its own directory: WORK is 0700, and the other users need the socket
    dwork = tempfile.mkdtemp(prefix="qp-bench-hostile-")
    os.chmod(dwork, 0o755)
    settings = dh.write_settings(os.path.join(dwork, "qp.yaml"), dwork, {}, roots=[dwork],
                                 extra={"log_level": "warning", "idle_timeout_ms": 30000})
    d = dh.Daemon(settings, dwork).start()
    os.chown(d.socket, -1, 65534)
    res = {"pings": pings, "attacks": {}}
    try:
        def peak_during(fn):
            peak, stop = [d.rss_kb()], threading.Event()

            def watch():
                while not stop.wait(0.05):
                    peak.append(d.rss_kb())
            th = threading.Thread(target=watch)
            th.start()
            try:
                out = fn()
            finally:
                stop.set()
                th.join()
            return out, max(peak) / 1024.0

        def summary(p, rss):
            lat = p["lat"]
            return {"served": len(lat), "errors": len(p["errors"]),
                    "first_error": p["errors"][0] if p["errors"] else None,
                    "p50_ms": 1e3 * hh.percentile(lat, 0.5) if lat else None,
                    "p99_ms": 1e3 * hh.percentile(lat, 0.99) if lat else None,
                    "max_ms": 1e3 * max(lat) if lat else None, "peak_rss_mb": rss}
        time.sleep(1)
        res["idle_rss_mb"] = d.rss_kb() / 1024.0
        p, rss = peak_during(lambda: hh.probe_as(d.socket, pings, 0.01, 4242, 65534))
        res["quiet"] = summary(p, rss)
        for kind, n in HOSTILE:
            def attacked():
                a = hh.Attacker(kind, d.socket, n)
                try:
                    time.sleep(2)
                    return hh.probe_as(d.socket, pings, 0.01, 4242, 65534)
                finally:
                    a.counts = a.stop()
                    attacked.counts = a.counts
            p, rss = peak_during(attacked)
            res["attacks"][kind] = dict(summary(p, rss), n=n, attacker=attacked.counts)
            # the next attack starts on a daemon that dropped this one
            end = time.time() + 60
            while d.request({"op": "stats"})["stats"]["connections"] > 1 and time.time() < end:
                time.sleep(0.2)
    finally:
        d.stop()
        shutil.rmtree(dwork, ignore_errors=True)
    a = res["attacks"].values()
    res["worst_p99_ms"] = max((x["p99_ms"] or float("inf")) for x in a)
    res["worst_rss_mb"] = max(x["peak_rss_mb"] for x in a)
    return res


def machine():
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) // 1024
    try:
        commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                                stdout=subprocess.PIPE, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain",
                                "--untracked-files=no"],
                               stdout=subprocess.PIPE, text=True).stdout.strip()
    except OSError:
        commit, dirty = "unknown", ""
    return {"cores": os.cpu_count(), "memory_mb": mem, "kernel": platform.release(),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "commit": commit + ("+dirty" if dirty else "")}


def verdicts(r):
    got = {}
    if r.get("neuview") and r["neuview"]["scale"] == "cns":
        got["neuview_vs_flat"] = r["neuview"]["ratio"]
    if r.get("cold") and r["cold"]["scale"] == "cns":
        got["cold_vs_floor"] = r["cold"]["ratio_to_floor"]
        got["peak_rss_mb"] = r["cold"]["peak_rss_mb"]["max"]
    if r.get("baseline") and r["baseline"]["scale"] == "cns":
        got["batched_speedup"] = r["baseline"]["speedup"]
    if r.get("quick"):
        got["quick_s"] = r["quick"]["wall_s"]["median"]
        got["scan_s"] = r["quick"]["scan_s"]["median"]
    if r.get("daemon"):
        got["daemon_idle_rss_mb"] = r["daemon"]["idle_rss_mb"]
    if r.get("hostile"):
        got["hostile_p99_ms"] = r["hostile"]["worst_p99_ms"]
        got["hostile_rss_mb"] = r["hostile"]["worst_rss_mb"]
    c = r.get("cache")
    if c and c["scale"] == "cns":
        got["warm_s"] = c["warm"]["wall_s"]["median"]
        got["warm_requests"] = c["warm"]["requests"]["max"]
        got["new1pct_s"] = c["new_1pct"]["wall_s"]["median"]
        got["new1pct_requests"] = c["new_1pct"]["requests"]["max"]
        got["changed_vs_cold"] = c["changed_vs_cold"]
        got["cache_mb"] = c["cache_bytes"] / 1e6
    b = r.get("browser")
    if b and b["scale"] == "cns":
        pages = (b["flat"], b["neuview"])
        got["browser_fcp_s"] = max(p["fcp_ms"] for p in pages) / 1e3
        got["browser_tti_s"] = max(p["tti_ms"] for p in pages) / 1e3
        got["browser_key_p95_ms"] = max(p["key_p95_ms"] for p in pages)
        got["browser_change_p95_ms"] = max(p["change_p95_ms"] for p in pages)
        got["types_html_vs_neuview"] = b["neuview"]["vs_neuview_list"]
    out = []
    for k, (what, op, target) in TARGETS.items():
        v = got.get(k)
        met = None if v is None else (v <= target if op == "<=" else v >= target)
        out.append({"key": k, "what": what, "target": "%s %g" % (op, target),
                    "measured": v, "met": met})
    return out


def fmt(x, unit=""):
    if x is None:
        return "-"
    if isinstance(x, dict):
        return "%s (%s–%s)" % (fmt(x["median"]), fmt(x["min"]), fmt(x["max"]))
    if isinstance(x, float):
        return ("%.3g" % x) + unit
    return str(x) + unit


def markdown(r):
    m = r["machine"]
    lines = ["Run: `bench/run%s`, %s, commit %s, %d cores, %d MB, kernel %s; "
             "N = %d runs per figure, median (min–max)." %
             (" --quick" if r["quick_mode"] else "", m["date"], m["commit"], m["cores"],
              m["memory_mb"], m["kernel"], r["runs"]), "",
             "| target | wanted | measured | met |", "|---|---|---|---|"]
    for v in r["targets"]:
        lines.append("| %s | %s | %s | %s |" % (v["what"], v["target"], fmt(v["measured"]),
                                               {True: "yes", False: "**no**", None: "not run"}[v["met"]]))
    c = r["cold"]
    lines += ["", "| scenario | wall s | requests | MB received | other |", "|---|---|---|---|---|",
              "| cold, batched (%s) | %s | %s | %s | peak RSS %s MB; floor_s %.3g; ratio %.2f |" %
              (c["scale"], fmt(c["wall_s"]), fmt(c["requests"]),
               fmt({k: v / 1e6 for k, v in c["bytes_in"].items() if k != "n"}),
               fmt(c["peak_rss_mb"]), c["floor_s"], c["ratio_to_floor"])]
    b = r.get("baseline")
    if b:
        lines.append("| baseline, per-type (%s) | %s | %s | %s | %.1f× slower than batched; "
                     "identical output: %s |" %
                     (b["scale"], fmt(b["wall_s"]), fmt(b["requests"]),
                      fmt({k: v / 1e6 for k, v in b["bytes_in"].items() if k != "n"}),
                      b["speedup"], b["identical_to_batched"]))
    p = r.get("quickpage-pattern")
    if p:
        lines += qp_rows(p)
    q = r.get("quick")
    if q:
        lines.append("| quick (cns page set, %d pages) | %s | 0 | 0 | scan %s s |" %
                     (q["pages"], fmt(q["wall_s"]), fmt(q["scan_s"])))
    f = r.get("faults")
    if f:
        lines.append("| faults 5%%, capacity 4 (%s) | %s | %s | - | retries %s; identical output: %s |" %
                     (f["scale"], fmt(f["wall_s"]), fmt(stats([x["requests"] for x in f["runs"]])),
                      fmt(f["retries"]), f["identical"]))
    k = r.get("cache")
    if k:
        lines.append("| cache: cold, empty cache (%s) | %s | %s | - | writes the cache: %.1f MB |" %
                     (k["scale"], fmt(k["cold"]["wall_s"]), fmt(k["cold"]["requests"]),
                      k["cache_bytes"] / 1e6))
        lines.append("| cache: warm, unchanged | %s | %s | - | hits %s; identical output: %s |" %
                     (fmt(k["warm"]["wall_s"]), fmt(k["warm"]["requests"]),
                      fmt(k["warm"]["hits"]), k["warm_identical"]))
        lines.append("| cache: 1 %% of the pages new (%d types) | %s | %s | - | misses %s; "
                     "identical output: %s |" %
                     (k["new_1pct"]["stems_new"], fmt(k["new_1pct"]["wall_s"]),
                      fmt(k["new_1pct"]["requests"]), fmt(k["new_1pct"]["misses"]),
                      k["new_identical"]))
        lines.append("| cache: dataset changed (--mutate-frac) | %s | %s | - | %.2f× the cold run |" %
                     (fmt(k["changed"]["wall_s"]), fmt(k["changed"]["requests"]),
                      k["changed_vs_cold"]))
    w = r.get("browser")
    if w:
        for name in ("flat", "neuview"):
            p = w[name]
            lines.append("| browser: %s %s (%s) | load %.2f, interactive %.2f | - | %.2f raw, "
                         "%.2f gzip | first paint %.0f ms; keystroke p50 %.1f / p95 %.1f ms; "
                         "filter change p50 %.1f / p95 %.1f ms; handlers alone p50 %.1f / "
                         "p95 %.1f ms%s |" %
                         (name, p["page"], w["scale"], p["load_ms"] / 1e3, p["tti_ms"] / 1e3,
                          p["bytes"] / 1e6, p["gzip_bytes"] / 1e6, p["fcp_ms"],
                          p["key_p50_ms"], p["key_p95_ms"], p["change_p50_ms"],
                          p["change_p95_ms"], p["handler_p50_ms"], p["handler_p95_ms"],
                          "; %.0f %% of neuView's list" % (100 * p["vs_neuview_list"])
                          if "vs_neuview_list" in p else ""))
        lines.append("| browser: load average (1 min) before / after | %.1f / %.1f | - | - | - |"
                     % tuple(w["loadavg_before_after"]))
    d = r.get("daemon")
    if d:
        sl = d["status_latency_ms"] or {}
        lines.append("| daemon (%s job) | quiet %s, under 50 status/s %s | - | - | idle RSS %s MB; "
                     "status latency median %s ms, p99 %s ms, max %s ms (%d calls, %.0f/s); "
                     "slow-down %.2f× |" %
                     (d["scale"], fmt(d["job_s_quiet"]), fmt(d["job_s_loaded"]),
                      fmt(d["idle_rss_mb"]), fmt(sl.get("median")), fmt(sl.get("p99")),
                      fmt(sl.get("max")), d["status_calls"], d["status_rate_per_s"],
                      d["slowdown"]))
    hs = r.get("hostile")
    if hs:
        lines += ["", "Hostile clients (user 65534) while another user pings %d times on fresh "
                  "connections; daemon idle RSS %.1f MB:" % (hs["pings"], hs["idle_rss_mb"]), "",
                  "| attack | connections | pings served | p50 ms | p99 ms | max ms | "
                  "daemon peak RSS MB |", "|---|---|---|---|---|---|---|"]
        rows = [("none", "-", hs["quiet"])] + [(k, v["n"], v) for k, v in hs["attacks"].items()]
        for k, n, v in rows:
            lines.append("| %s | %s | %d/%d | %s | %s | %s | %s |" %
                         (k, n, v["served"], hs["pings"], fmt(v["p50_ms"]), fmt(v["p99_ms"]),
                          fmt(v["max_ms"]), fmt(v["peak_rss_mb"])))
    return "\n".join(lines) + "\n"


def times(x):
    return "-" if x is None else ("%.0f×" % x if x >= 10 else "%.2g×" % x)


def qp_rows(p):
    rows = []
    for key, client in (("np051", "neuprint-python 0.5.1"),
                        ("np052", "0.5.1 + GET /api/version per query (0.5.2+)")):
        v = p.get(key)
        if not v:
            continue
        e, smp = v["estimate"], v["sample"]
        refused = sum(n for k in ("upstream", "downstream")
                      for st, n in smp["by_kind"].get(k, {}).get("status", {}).items()
                      if st != "200")
        sent = sum(smp["by_kind"].get(k, {}).get("requests", 0)
                   for k in ("upstream", "downstream"))
        est = ("extrapolated from %d of %d types (seed %d; %d of the %d that name a type), "
               "95 %% interval %.0f–%.0f s"
               % (p["sampled"], p["types"], p["seed"], p["sampled_strata"]["found"],
                  p["strata"]["found"], e["wall_s"]["low"], e["wall_s"]["high"])
               if p["sampled"] < p["types"] else "every type replayed")
        rows.append("| QuickPage 56a65d8's pattern, %s (%s) | %.0f | %.0f | %.0f | %s; "
                    "sample: %.1f s, %d requests, partner queries %d sent, %d refused; "
                    "%s quickpaged's cold run |" %
                    (client, p["scale"], e["wall_s"]["estimate"], e["requests"]["estimate"],
                     e["bytes_in"]["estimate"] / 1e6, est, smp["wall_s"], smp["requests"],
                     sent, refused, times(v.get("vs_cold"))))
    return rows


def write_doc(r):
    path = os.path.join(ROOT, "docs", "BENCHMARKS.md")
    begin, end = "<!-- results -->", "<!-- /results -->"
    with open(path, encoding="utf-8") as f:
        text = f.read()
    a, b = text.index(begin) + len(begin), text.index(end)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text[:a] + "\n" + markdown(r) + text[b:])


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="demo scale, N=3, ~6 minutes")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "latest.json"))
    ap.add_argument("--no-doc", action="store_true", help="do not rewrite docs/BENCHMARKS.md")
    ap.add_argument("--qp-sample", type=int, metavar="N",
                    help="quickpage-pattern: types replayed (default %s; 0: all)"
                    % ", ".join("%d at %s" % (v, k) for k, v in QP_SAMPLE.items()))
    ap.add_argument("--only", help="run just these scenarios (e.g. neuview, or cold,cache: cache needs cold; quickpage-pattern takes its ratio from cold); implies --no-doc")
    a = ap.parse_args()
    scale = "demo" if a.quick else "cns"
    r = {"quick_mode": a.quick, "runs": a.runs, "machine": machine()}
    work = tempfile.mkdtemp(prefix="qp-bench-")
    steps = [("cold", lambda: scenario_cold(work, scale, a.runs)),
             ("baseline", lambda: scenario_baseline(work, scale, a.runs, r["cold"])),
             ("quickpage-pattern", lambda: scenario_qppattern(
                 work, scale, QP_SAMPLE[scale] if a.qp_sample is None else a.qp_sample,
                 r.get("cold"), newer=not a.quick)),
             ("quick", lambda: scenario_quick(work, 1 if a.quick else a.runs)),
             ("faults", lambda: scenario_faults(work, scale, 1 if a.quick else a.runs,
                                                r["cold"]["reference"])),
             ("daemon", lambda: scenario_daemon(work, scale, 1 if a.quick else a.runs)),
             ("neuview", lambda: scenario_neuview(work, scale, a.runs)),
             ("cache", lambda: scenario_cache(work, scale, a.runs, r["cold"]["reference"])),
             ("hostile", lambda: scenario_hostile(work, 100 if a.quick else 300)),
             ("browser", lambda: scenario_browser(work, scale, a.runs))]
    if a.only:
        steps = [st for st in steps if st[0] in a.only.split(",")]
        a.no_doc = True
        if not steps:
            ap.error("no scenario %r" % a.only)
    failed = []
    for name, fn in steps:
        t = time.monotonic()
        print("bench: %s ..." % name, file=sys.stderr, flush=True)
        try:
            r[name] = fn()
        except Exception as e:  # report and go on: one scenario must not hide the rest
            failed.append("%s: %s" % (name, e))
            print("bench: %s failed: %s" % (name, e), file=sys.stderr)
        print("bench: %s took %.0f s" % (name, time.monotonic() - t), file=sys.stderr)
    if "cold" in r:
        r["cold"].pop("reference", None)
    r["targets"] = verdicts(r)
    r["failed"] = failed
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(r, f, indent=1)
    if a.only and a.only in r:
        print(json.dumps(r[a.only], indent=1))
    if "cold" in r:
        md = markdown(r)
        print(md)
        if not a.no_doc:
            write_doc(r)
    shutil.rmtree(work, ignore_errors=True)
    if failed:
        print("bench: could not run: " + "; ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
