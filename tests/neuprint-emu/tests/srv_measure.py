#!/usr/bin/env python3
"""Measure the emulator: start-up time and RSS per scale, sustained
requests/second with keep-alive clients at latency 0, and the emulator's own
CPU per request next to the modelled execution time. Prints a report; the
numbers in README.md come from here.

  /usr/bin/python3 tests/srv_measure.py [--scales tiny,demo,cns] [--seconds 5]
                                        [--threads 8] [--cache-dir DIR]

Uses the default dataset cache unless --cache-dir is given (so a first run
at cns scale includes the one-time dataset build; the start-up is measured
twice and the second, cached, number is the one reported).
"""

import argparse
import http.client
import json
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

from srv_util import Emu, proc_cpu_s, proc_rss_kb  # noqa: E402


def sq(s):
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def load(emu, make_body, seconds, threads, path="/api/custom/custom", method="POST"):
    """Keep-alive clients hammering one route. -> (requests, seconds, statuses)"""
    stop = time.monotonic() + seconds
    counts = []
    statuses = {}
    lock = threading.Lock()

    def worker(i):
        c = emu.conn(timeout=60)
        n = 0
        hdr = {"Authorization": "Bearer " + emu.token, "Content-type": "application/json"}
        try:
            while time.monotonic() < stop:
                body = make_body(i, n) if method == "POST" else None
                c.request(method, path, body=body, headers=hdr)
                r = c.getresponse()
                r.read()
                n += 1
                with lock:
                    statuses[r.status] = statuses.get(r.status, 0) + 1
        finally:
            c.close()
            counts.append(n)
    t0 = time.monotonic()
    ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(counts), time.monotonic() - t0, statuses


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scales", default="tiny,demo,cns")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--cache-dir", default=None)
    a = ap.parse_args()
    out = []
    for scale in a.scales.split(","):
        kw = {"cache_dir": a.cache_dir} if a.cache_dir else {"cache_dir": ""}
        if not a.cache_dir:
            from emu import dataset
            kw = {"cache_dir": dataset.default_cache_dir()}
        Emu(scale=scale, **kw).stop()            # warms the dataset cache
        emu = Emu(scale=scale, **kw)
        try:
            time.sleep(0.3)
            rss0 = proc_rss_kb(emu.p.pid)
            out.append("== %s: ready in %.2f s (first stdout line), RSS %.0f MB" %
                       (scale, emu.ready_s, rss0 / 1024.0))
            emu.config(latency_ms=0, bandwidth_mbit=0, capacity=64, queue=256)
            r = emu.query("MATCH (n:Neuron) WHERE n.type IS NOT NULL RETURN DISTINCT n.type AS type")
            types = sorted(x[0] for x in json.loads(r.data)["data"])
            meta = json.loads(emu.query("MATCH (m:Meta) RETURN m.primaryRois AS p").data)["data"][0][0]
            one = sq(types[len(types) // 2])
            batch = ", ".join(sq(t) for t in types[:50])
            cells = ("UNWIND [%s] AS t MATCH (n:Neuron) WHERE n.type = t RETURN n.type AS type, "
                     "n.somaSide AS side, n.instance AS instance, n.consensusNt AS nt, count(n) AS cells, "
                     "sum(n.pre) AS pre, sum(n.post) AS post")
            rois = ("UNWIND [%s] AS t MATCH (n:Neuron) WHERE n.type = t WITH n.type AS type, "
                    "apoc.convert.fromJsonMap(n.roiInfo) AS ri UNWIND keys(ri) AS roi WITH type, roi, "
                    "ri[roi] AS c WHERE roi IN [" + ", ".join(sq(p) for p in meta) + "] RETURN type, roi, "
                    "sum(c.pre) AS pre, sum(c.post) AS post")
            # modelled vs real CPU for single queries (default cost numbers)
            emu.config(row_us=20, json_us=30, out_us=2)
            out.append("  %-22s %8s %10s %10s %8s" % ("query", "rows", "model_ms", "cpu_ms", "bytes"))
            for label, q in (("TYPES (scan)", "MATCH (n:Neuron) WHERE n.type IS NOT NULL RETURN DISTINCT n.type AS type"),
                             ("CELLS 1 type", cells % one), ("CELLS 50 types", cells % batch),
                             ("ROIS 50 types", rois % batch)):
                r = emu.query(q + " // m")
                assert r.status == 200, r.data[:200]
                out.append("  %-22s %8d %10.2f %10.2f %8d" % (
                    label, len(json.loads(r.data)["data"]), float(r.getheader("X-Emu-Exec-Ms")),
                    float(r.getheader("X-Emu-Cpu-Ms")), len(r.data)))
            # throughput with every cost at 0: the emulator's own speed
            emu.config(row_us=0, json_us=0, out_us=0)
            for label, method, path, mk in (
                    ("GET /api/version", "GET", "/api/version", None),
                    ("CELLS 1 type", "POST", "/api/custom/custom",
                     lambda i, n: json.dumps({"cypher": cells % one, "dataset": "cns"})),
                    ("CELLS 50 types", "POST", "/api/custom/custom",
                     lambda i, n: json.dumps({"cypher": cells % batch, "dataset": "cns"}))):
                c0 = proc_cpu_s(emu.p.pid)
                n, el, st = load(emu, mk, a.seconds, a.threads, path, method)
                cpu = proc_cpu_s(emu.p.pid) - c0
                out.append("  load %-18s %d threads: %7.0f req/s, server CPU %.2f ms/req, statuses %s"
                           % (label, a.threads, n / el, cpu / max(n, 1) * 1000, st))
            out.append("  RSS after load: %.0f MB" % (proc_rss_kb(emu.p.pid) / 1024.0))
        finally:
            emu.stop()
        print("\n".join(out[-12:]), flush=True)
        out = []


if __name__ == "__main__":
    main()
