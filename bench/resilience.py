"""Real-time resilience runs against the emulator: numbers, not verdicts.

These were tests/integration/test_resilience.py's TestConverge,
TestCapacityChange and TestBench. Their properties depend on wall-clock
windows (the capacity switched at 6 s and 13 s, convergence judged over a
10-20 s run) and so on the machine's load; they are asserted in simulated
time by tests/unit/test_resilience_sim.c, and measured here. Each scenario
prints its trace, the figures the old tests judged and whether they were
within the old thresholds ("within" / "outside"); the exit status is
non-zero only when a scenario could not run.

    bench/resilience [converge] [capacity] [fixed]     (default: converge capacity)

QP_RES_LAT (ms, default 0) sets the emulator's latency for `capacity`.
"""
import os
import sys
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import harness as h  # noqa: E402
import res_harness as rh  # noqa: E402
import test_resilience as tr  # noqa: E402

log = tr.log


def verdict(ok):
    return "within" if ok else "outside"


def site():
    b = tr.Base()       # its setUp/config/reference/report, outside a runner
    b.setUp()
    return b


def converge():
    """capacity 4, limiter from 32: settles near 4, few 503s, same output."""
    cap = 4
    b = site()
    try:
        extra = tr.emu_flags(tr.SLOW) + ["--capacity", str(cap), "--queue", "8"]
        with h.Emulator(b.work, b.scale, extra=extra) as emu:
            ref = b.reference(emu)
            cfg = b.config(emu, batch_size=tr.BATCH, conc=(1, 32, 64))
            run = rh.Run(cfg, "--json")
            early = emu.admin("/emu/stats?floor=0") if run.sleep_until(5.0) else None
            if run.wait() != 0:
                raise RuntimeError(run.stderr)
            late = emu.admin("/emu/stats?floor=0")
            s = run.summary()
            b.report("capacity %d, from 32" % cap, s)
            got = rh.without_generated_at(h.load_types(b.out))
            wall, trace = s["wall_s"], s["limit_trace"]
            half = rh.trace_mean(trace, wall / 2, wall)
            req = late["requests"] - (early["requests"] if early else 0)
            rej = late["rejected"] - (early["rejected"] if early else 0)
            log("  wall %.2f s (judged if >= 10: %s)" % (wall, verdict(wall >= 10)))
            log("  second-half mean limit %.2f (capacity %d; [2, 6]: %s)"
                % (half, cap, verdict(0.5 * cap <= half <= 1.5 * cap)))
            log("  503s after the first 5 s: %d of %d requests (< 2 %%: %s)"
                % (rej, req, verdict(early is not None and rej < 0.02 * req)))
            log("  index the undisturbed one: %s" % (got == ref))
    finally:
        b.tearDown()


def capacity():
    """capacity 8 -> 2 -> 8 while running: the limit follows both ways."""
    switch, settle = (6.0, 13.0), 1.5
    b = site()
    try:
        kept, removed = rh.trim_site(b.out, b.scale, 30)
        log("\n  site without the %d types of more than 30 neurons: %d types"
            % (removed, kept))
        extra = ["--latency-ms", os.environ.get("QP_RES_LAT", "0"),
                 "--row-us", "6000", "--json-us", "9000", "--capacity", "8",
                 "--queue", "16"]
        with h.Emulator(b.work, b.scale, extra=extra) as emu:
            cfg = b.config(emu, batch_size=tr.BATCH, conc=(1, 8, 64))
            run = rh.Run(cfg, "--json")
            t_down = t_up = None
            if run.sleep_until(switch[0]):
                emu.admin("/emu/config", {"capacity": 2})
                t_down = run.since()
            if run.sleep_until(switch[1]):
                emu.admin("/emu/config", {"capacity": 8})
                t_up = run.since()
            if run.wait() != 0:
                raise RuntimeError(run.stderr)
            s = run.summary()
            b.report("capacity 8 -> 2 (t=%s) -> 8 (t=%s)" % (t_down, t_up), s)
            if t_up is None:
                log("  the run ended before the capacity went back up: not judged")
                return
            trace, end = s["limit_trace"], s["wall_s"]
            phases = [(settle, t_down), (t_down + settle, t_up), (t_up + settle, end)]
            m = [rh.trace_mean(trace, a, z) for a, z in phases]
            log("  mean limit per phase: %.2f / %.2f / %.2f" % tuple(m))
            log("  low phase < 0.6 x both others and <= 4: %s; %.1f s at capacity 8 "
                "after the dip" % (verdict(m[1] < 0.6 * m[0] and m[1] < 0.6 * m[2]
                                           and m[1] <= 4), end - phases[2][0]))
    finally:
        b.tearDown()


FIXED_SETTINGS = [("capacity 4, latency 0", ["--latency-ms", "0", "--capacity", "4",
                                             "--queue", "8"]),
                  ("capacity 4, latency 200 ms", ["--latency-ms", "200", "--capacity",
                                                  "4", "--queue", "8"])]
FIXED = (1, 2, 4, 6, 8, 12, 16)


def fixed():
    """Throughput at fixed concurrency against the adaptive limiter."""
    b = site()
    try:
        for label, flags in FIXED_SETTINGS:
            extra = tr.emu_flags({"row_us": tr.SLOW["row_us"],
                                  "json_us": tr.SLOW["json_us"]})
            with h.Emulator(b.work, b.scale, extra=extra + flags) as emu:
                log("\n  %s (demo, row_us %d, json_us %d, batch_size %d):"
                    % (label, tr.SLOW["row_us"], tr.SLOW["json_us"], tr.BATCH))
                runs = [("fixed %d" % n, (n, n, n)) for n in FIXED]
                runs += [("adaptive from 32", (1, 32, 64)), ("adaptive from 8", (1, 8, 64))]
                for name, conc in runs:
                    emu.admin("/emu/stats/reset", {})
                    cfg = b.config(emu, batch_size=tr.BATCH, conc=conc)
                    r, s = rh.run_json(cfg, "--no-cache")  # each run fetches all
                    st = emu.admin("/emu/stats?floor=0")
                    if r.returncode != 0:
                        # Fixed above capacity + queue: 503s no retry can outlast.
                        log("    %-17s failed (503s %d): %s" % (name, st["rejected"],
                                                              r.stderr.strip()))
                        continue
                    trace = s["limit_trace"]
                    log("    %-17s %6.2f s %6.1f types/s  mean limit %5.2f (2nd half "
                        "%5.2f)  503s %3d  retries %3d"
                        % (name, s["wall_s"], rh.rate(s),
                           rh.trace_mean(trace, 0, s["wall_s"]),
                           rh.trace_mean(trace, s["wall_s"] / 2, s["wall_s"]),
                           st["rejected"], s["retries"]))
    finally:
        b.tearDown()


SCENARIOS = {"converge": converge, "capacity": capacity, "fixed": fixed}


def main(argv):
    names = argv or ["converge", "capacity"]
    bad = [n for n in names if n not in SCENARIOS]
    if bad:
        sys.stderr.write("bench/resilience: unknown scenario %s (of %s)\n"
                         % (", ".join(bad), ", ".join(SCENARIOS)))
        return 2
    failed = 0
    for n in names:
        log("== %s" % n)
        t0 = time.monotonic()
        try:
            SCENARIOS[n]()
        except Exception:  # report and go on: one scenario must not hide the rest
            traceback.print_exc()
            failed += 1
        log("== %s: %.1f s" % (n, time.monotonic() - t0))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
