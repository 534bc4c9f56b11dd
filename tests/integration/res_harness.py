"""Helpers for test_resilience.py (the limiter and fault tolerance, end to end).

Built on harness.py: an emulator, a site, a config. What is added here is
what those tests need beyond one blocking run: running quickpaged in the
background while the emulator is reconfigured or watched, reading the
--json summary, and summarising the limit trace.
"""
import json
import os
import subprocess
import threading
import time

import harness as h


def config_extra(batch_size=None, conc=None, **keys):
    """Lines for the quickpaged: section of a site config.

    conc = (min, initial, max); other keys are written as `key: value`.
    """
    out = ""
    if batch_size is not None:
        out += "  batch_size: %d\n" % batch_size
    for k, v in sorted(keys.items()):
        out += "  %s: %s\n" % (k, v)
    if conc is not None:
        out += "  concurrency: {min: %d, initial: %d, max: %d}\n" % tuple(conc)
    return out


class Run:
    """quickpaged --run create-index in the background (stdout, stderr kept)."""

    def __init__(self, config, *args, env=None):
        e = dict(os.environ)
        e.pop("NEUPRINT_APPLICATION_CREDENTIALS", None)
        e.pop("NEUPRINT_TOKEN", None)
        if env:
            e.update(env)
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [h.QUICKPAGED, "--run", "create-index", "--config", config] + list(args),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e)
        self.stdout = self.stderr = None
        self.elapsed = None
        # Drain both pipes so a chatty process can never block on them.
        self._out = []
        self._err = []
        self._threads = [threading.Thread(target=self._drain, args=(s, b), daemon=True)
                         for s, b in ((self.proc.stdout, self._out),
                                      (self.proc.stderr, self._err))]
        for t in self._threads:
            t.start()

    @staticmethod
    def _drain(stream, buf):
        buf.append(stream.read())
        stream.close()

    def since(self):
        return time.monotonic() - self.t0

    def running(self):
        return self.proc.poll() is None

    def sleep_until(self, t):
        """Sleep until T seconds after the start; False if the run ended first."""
        while self.since() < t:
            if not self.running():
                return False
            time.sleep(min(0.05, max(0.0, t - self.since())))
        return self.running()

    def wait(self, timeout=600):
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        finally:
            if self.elapsed is None:
                self.elapsed = self.since()
        for t in self._threads:
            t.join()
        self.stdout = "".join(self._out)
        self.stderr = "".join(self._err)
        h.assert_no_token(texts=(self.stdout, self.stderr))
        return self.proc.returncode

    def summary(self):
        """The --json summary (the last stdout line)."""
        return json.loads(self.stdout.strip().splitlines()[-1])


def run_json(config, *args, timeout=600):
    """A blocking run with --json: (CompletedProcess, summary or None)."""
    r = h.run(config, "--json", *args, timeout=timeout)
    s = None
    if r.returncode == 0:
        s = json.loads(r.stdout.strip().splitlines()[-1])
    return r, s


def trace_mean(trace, t0, t1):
    """Time-weighted mean of the step function [[t, limit], ...] on [t0, t1]."""
    if t1 <= t0 or not trace:
        return float("nan")
    total = 0.0
    for i, (t, lim) in enumerate(trace):
        end = trace[i + 1][0] if i + 1 < len(trace) else max(t1, t)
        a, b = max(t, t0), min(end, t1)
        if b > a:
            total += (b - a) * lim
    # Before the first sample the limit is the first sample's (t=0 anyway).
    if trace[0][0] > t0:
        total += (min(trace[0][0], t1) - t0) * trace[0][1]
    return total / (t1 - t0)


def trace_text(trace, per_line=10):
    """The trace as 't:limit' pairs, a few per line, for the test log."""
    cells = ["%6.2f:%-3d" % (t, lim) for t, lim in trace]
    return "\n".join("    " + " ".join(cells[i:i + per_line])
                     for i in range(0, len(cells), per_line))


def without_generated_at(types):
    d = dict(types)
    d.pop("generated_at", None)
    return d


def tree_files(d):
    return sorted(os.path.relpath(os.path.join(r, f), d)
                  for r, _, fs in os.walk(d) for f in fs)


def rate(summary):
    """Types per second of a run."""
    return summary["types"] / summary["wall_s"] if summary["wall_s"] > 0 else 0.0


def trim_site(out, scale, max_cells):
    """Remove the pages of every type with more than MAX_CELLS neurons.

    The data's type sizes are heavy tailed (a batch of five named optic
    lobe types costs ~25x an average one), and with no network time in
    front that cost spread is all the limiter sees: single windows swing
    by several times with no change in load. Without the big types the
    latency signal is mostly queueing. Returns (types kept, types removed).
    """
    want = h.oracle(out, scale)
    kept = removed = 0
    for t in want["types"]:
        if t["counts"].get("total", 0) <= max_cells:
            kept += 1
            continue
        removed += 1
        for page in set(t["urls"].values()):
            os.remove(os.path.join(out, page))
    return kept, removed
