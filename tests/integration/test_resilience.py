"""Adaptive concurrency and fault tolerance, end to end against the emulator.

What the limiter should do is in docs/concurrency.md. Its knee (the
in-flight count that keeps the server busy) is slots * (network + exec) /
exec: with the emulator's default 200 ms round trip in front of ~0.1 s
queries that is about 3x the slot count, and the limiter is right to go
there. These tests want the server's slots to be the bottleneck, so they
run the emulator with --latency-ms 0: the knee is then the capacity itself
(plus a few ms of local TLS/HTTP per query), and "settles near the
capacity" is a meaningful claim.

Timing: the emulator's cost model is in modelled seconds, so run lengths
hardly depend on the machine. The costs below (demo scale, row_us 1000,
json_us 1500, batch_size 5: 320 queries, ~38 slot-seconds of modelled
execution) make a capacity-4 run last ~10-16 s.

Traces and throughput are printed (run with -v to see them in the log);
QP_RES_BENCH=1 also runs TestBench (fixed concurrency against adaptive).
"""
import json
import os
import shutil
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import res_harness as rh  # noqa: E402

SCALE = "demo"
BATCH = 5
# Modelled execution heavy enough for a long run, with the default 2:3
# ratio of row to JSON cost (CELLS vs ROIS queries stay within ~1:2.5).
SLOW = {"latency_ms": 0, "row_us": 1000, "json_us": 1500}
FAST = {"latency_ms": 0, "row_us": 20, "json_us": 30, "capacity": 64, "queue": 64}


def log(*a):
    print(*a, flush=True)


def emu_flags(cfg):
    out = []
    for k, v in cfg.items():
        out += ["--" + k.replace("_", "-"), str(v)]
    return out


class Base(unittest.TestCase):
    scale = SCALE
    maxDiff = None

    def setUp(self):
        self.work = h.Workdir(prefix="qp-res-").path
        self.out = os.path.join(self.work, "site")
        h.make_pages(self.out, self.scale)

    def tearDown(self):
        shutil.rmtree(self.work, ignore_errors=True)

    def config(self, emu, name="site.yaml", **kw):
        return h.write_config(os.path.join(self.work, name), emu.url, self.out,
                              emu.ca, extra=rh.config_extra(**kw))

    def reference(self, emu):
        """types.json of an undisturbed run: a big fast server, no faults."""
        saved = emu.admin("/emu/config")
        emu.admin("/emu/config", dict(FAST, fault_rate=0, fail_types=[]))
        cfg = self.config(emu, "ref.yaml", batch_size=BATCH)
        r, s = rh.run_json(cfg)
        self.assertEqual(r.returncode, 0, r.stderr)
        ref = rh.without_generated_at(h.load_types(self.out))
        emu.admin("/emu/config", {k: saved[k] for k in
                                  ("latency_ms", "row_us", "json_us", "capacity",
                                   "queue", "fault_rate", "fail_types")})
        emu.admin("/emu/stats/reset", {})
        log("\n  undisturbed: %d types in %.2f s" % (s["types"], s["wall_s"]))
        return ref

    def report(self, what, s):
        tr = s["limit_trace"]
        log("  %s: %d types, %d queries, %d requests, %.2f s, %.1f types/s, "
            "retries %s, splits %d" % (what, s["types"], s["queries"], s["requests"],
                                       s["wall_s"], rh.rate(s),
                                       json.dumps(s["retries_by_cause"]), s["splits"]))
        log("  limit trace (s:limit), %d changes:\n%s" % (len(tr), rh.trace_text(tr)))


class TestConverge(Base):
    """capacity 4, limiter from 32: settles near 4, few 503s, same output."""

    CAPACITY = 4

    def test_settles_near_capacity(self):
        extra = emu_flags(SLOW) + ["--capacity", str(self.CAPACITY), "--queue", "8"]
        with h.Emulator(self.work, self.scale, extra=extra) as emu:
            ref = self.reference(emu)
            cfg = self.config(emu, batch_size=BATCH, conc=(1, 32, 64))
            run = rh.Run(cfg, "--json")
            early = None
            if run.sleep_until(5.0):
                early = emu.admin("/emu/stats?floor=0")
            self.assertEqual(run.wait(), 0, run.stderr)
            late = emu.admin("/emu/stats?floor=0")
            s = run.summary()
            self.report("capacity %d, from 32" % self.CAPACITY, s)
            got = rh.without_generated_at(h.load_types(self.out))

            wall = s["wall_s"]
            tr = s["limit_trace"]
            half = rh.trace_mean(tr, wall / 2, wall)
            log("  mean limit: whole run %.2f, second half %.2f (capacity %d)"
                % (rh.trace_mean(tr, 0, wall), half, self.CAPACITY))
            self.assertIsNotNone(early, "the run ended before 5 s")
            req = late["requests"] - early["requests"]
            rej = late["rejected"] - early["rejected"]
            log("  503 for capacity: %d in the first 5 s, %d of %d requests after"
                % (early["rejected"], rej, req))
            log("  emulator: peak executing %d, peak waiting %d, modelled exec %.1f s"
                % (late["peak_executing"], late["peak_waiting"], late["exec_model_s"]))

            self.assertGreaterEqual(wall, 10.0, "run too short to judge settling")
            self.assertGreaterEqual(half, self.CAPACITY * 0.5)
            self.assertLessEqual(half, self.CAPACITY * 1.5)
            self.assertLess(rej, 0.02 * req, "too many 503s after the first 5 s")
            self.assertEqual(got, ref)


if __name__ == "__main__":
    unittest.main()
