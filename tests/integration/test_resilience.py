"""Fault tolerance, end to end against the emulator.

Faults of every kind, types the server always fails, too many failed
types, the server killed mid-run. The limiter's convergence and its
following a capacity change are asserted in simulated time
(tests/unit/test_resilience_sim.c); the real-time runs that used to be
here (TestConverge, TestCapacityChange, TestBench) are benchmarks now:
bench/resilience.

The emulator runs with --latency-ms 0: the knee (the in-flight count that
keeps the server busy) is then the server's slot count, plus a few ms of
local TLS/HTTP per query. The costs below (demo scale, row_us 1000,
json_us 1500, batch_size 5: 320 queries, ~38 slot-seconds of modelled
execution) make a capacity-4 run last ~10-16 s; the emulator's cost model
is in modelled seconds, so run lengths hardly depend on the machine.

Traces are printed (run with -v to see them in the log).
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
        r, s = rh.run_json(cfg, "--no-cache")  # the run under test starts cold
        self.assertEqual(r.returncode, 0, r.stderr)
        ref = rh.without_generated_at(h.load_types(self.out))
        # The run under test must write its own.
        os.remove(os.path.join(self.out, "types.json"))
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


# Which retry cause each emulator fault kind should show up as.
CAUSE_OF_FAULT = {"500": "5xx", "502": "5xx", "503": "overload", "429": "overload",
                  "reset": "reset", "stall": "timeout", "truncate": "reset",
                  "badjson": "badbody"}


class TestFaults(Base):
    """5 % faults of every kind: the same index as without faults."""

    def test_every_fault_kind(self):
        extra = ["--latency-ms", "0", "--fault-rate", "0.05", "--stall-s", "3"]
        with h.Emulator(self.work, self.scale, extra=extra) as emu:
            ref = self.reference(emu)
            cfg = self.config(emu, batch_size=2, low_speed_time_s=1,
                              request_timeout_s=2)
            t = time.monotonic()
            r, s = rh.run_json(cfg, timeout=300)
            took = time.monotonic() - t
            self.assertEqual(r.returncode, 0, r.stderr)
            st = emu.admin("/emu/stats?floor=0")
            self.report("fault rate 0.05", s)
            log("  emulator faults by kind: %s (of %d requests); run took %.1f s"
                % (json.dumps(st["faults"]), st["requests"], took))
            got = rh.without_generated_at(h.load_types(self.out))

            self.assertEqual(got, ref)
            self.assertEqual(s["failures"], [])
            self.assertEqual(s["failed"], 0)
            byc = s["retries_by_cause"]
            self.assertEqual(sum(byc.values()), s["retries"])
            self.assertEqual(s["requests"], s["queries"] + s["retries"])
            # Every kind was drawn (the draws are seeded: this holds for
            # these flags), and each shows up under its cause.
            self.assertEqual(sorted(k for k, n in st["faults"].items() if n),
                             sorted(CAUSE_OF_FAULT))
            for kind, cause in CAUSE_OF_FAULT.items():
                self.assertGreater(byc[cause], 0, "%s faults, no %s retries"
                                   % (kind, cause))
            self.assertEqual(byc["connect"], 0)


def pick_names(types, n):
    """N type names no other name contains (the emulator fails a query
    whose text contains a --fail-types name), plain enough that the page
    stem is the name; spread over the alphabet, deterministic."""
    names = [t["name"] for t in types["types"] if t["counts"]] + types["unmatched"]
    ok = [m for m in sorted(t["name"] for t in types["types"] if t["counts"])
          if len(m) >= 4 and m.isascii() and all(c.isalnum() or c in "-_" for c in m)
          and not any(m in o for o in names if o != m)]
    return [ok[(i + 1) * len(ok) // (n + 1)] for i in range(n)]


class TestFailingTypes(Base):
    """Types the server always fails: isolated by splitting and reported."""

    def test_one_type_isolated(self):
        with h.Emulator(self.work, self.scale, extra=["--latency-ms", "0"]) as emu:
            want = h.oracle(self.out, self.scale)
            bad, = pick_names(want, 1)
            emu.admin("/emu/config", {"fail_types": [bad]})
            cfg = self.config(emu)		# batch_size 200, max_failed_fraction 0.01
            r, s = rh.run_json(cfg)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.report("failing type %s" % bad, s)
            got = h.load_types(self.out)
            st = emu.admin("/emu/stats?floor=0")
            log("  emulator: %d fail_types hits" % st["fail_types_hit"])

            self.assertEqual(s["failed"], 1)
            self.assertEqual(len(s["failures"]), 1)
            self.assertTrue(s["failures"][0].startswith(bad + ": "), s["failures"])
            self.assertIn("emulated failure", s["failures"][0])
            # Bisection: at least log2(200) splits down to the one stem.
            self.assertGreaterEqual(s["splits"], 7)
            self.assertNotIn(bad, got["unmatched"])
            self.assertIn(bad, [t["name"] for t in got["types"]])
            # Schema 2 lists the failed type with its error; the oracle
            # knows of no failure.
            self.assertEqual([f["name"] for f in got["failed"]], [bad])
            self.assertIn("emulated failure", got["failed"][0]["error"])
            for d in (got, want):
                d["types"] = [t for t in d["types"] if t["name"] != bad]
                d["failed"] = []
            h.assert_same_index(self, got, want)

            # The plain summary warns and still exits 0.
            r = h.run(cfg)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("warning: no data for type %s" % bad, r.stdout)

    def test_past_max_failed_fraction(self):
        before = h.previous_index(self.out)
        with h.Emulator(self.work, self.scale, extra=["--latency-ms", "0"]) as emu:
            bad = pick_names(h.oracle(self.out, self.scale), 3)
            emu.admin("/emu/config", {"fail_types": bad})
            cfg = self.config(emu, max_failed_fraction=0)
            r = h.run(cfg, "--json")
            log("\n  failing %s, max_failed_fraction 0: exit %d, stderr %r"
                % (bad, r.returncode, r.stderr))
            self.assertNotEqual(r.returncode, 0)
            lines = r.stderr.strip().splitlines()
            self.assertEqual(len(lines), 1, r.stderr)
            self.assertIn("max_failed_fraction", lines[0])
            self.assertIn("3 of ", lines[0])
            self.assertEqual(h.tree_digest(self.out), before)


class TestEmulatorKilled(Base):
    """The server dies mid-run: a clear failure, the old index intact."""

    def test_sigkill_mid_run(self):
        before = h.previous_index(self.out)
        files = rh.tree_files(self.out)
        extra = emu_flags(SLOW) + ["--capacity", "4"]
        with h.Emulator(self.work, self.scale, extra=extra) as emu:
            cfg = self.config(emu, batch_size=BATCH)
            run = rh.Run(cfg, "--json")
            self.assertTrue(run.sleep_until(1.0), "the run ended within 1 s")
            stats = emu.admin("/emu/stats?floor=0")
            emu.proc.send_signal(signal.SIGKILL)
            emu.proc.wait()
            killed = run.since()
            rc = run.wait(timeout=120)
            after = run.elapsed - killed
            log("\n  killed after %.1f s (%d requests in); quickpaged exit %d "
                "%.1f s later; stderr:\n    %s"
                % (killed, stats["requests"], rc, after, run.stderr.strip()))
            self.assertNotEqual(rc, 0)
            self.assertLess(after, 30.0)
            lines = run.stderr.strip().splitlines()
            self.assertEqual(len(lines), 1, run.stderr)
            self.assertIn("create-index failed", lines[0])
            self.assertIn("neuPrint", lines[0])
            self.assertNotIn(h.TOKEN, run.stderr + run.stdout)
            self.assertEqual(rh.tree_files(self.out), files)
            self.assertEqual(h.tree_digest(self.out), before)


if __name__ == "__main__":
    unittest.main()
