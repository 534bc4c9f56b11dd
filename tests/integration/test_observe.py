"""What an administrator's monitoring reads: the Prometheus metrics
(`qpctl stats --prometheus` and the metrics_file, parsed with the
prometheus_client parser, Debian's python3-prometheus-client) and the
daemon's logfmt log lines (under the journal too)."""
import json
import os
import re
import shutil
import stat
import tempfile
import time
import unittest

from prometheus_client.parser import text_string_to_metric_families

import harness
import daemon_harness as dh

HOLD_MS = 1500      # QP_TEST_RENDER_DELAY_MS: each render waits this long


def parse(text):
    """{(sample name, frozenset(labels)): value}, families checked by the parser."""
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            key = (s.name, frozenset(s.labels.items()))
            if key in out:
                raise AssertionError("sample %r twice" % (key,))
            out[key] = s.value
    return out


def val(m, name, **labels):
    return m[(name, frozenset(labels.items()))]


# logfmt as docs/daemon.md defines it: KEY=bare or KEY="quoted with escapes".
FIELD = re.compile(r'([a-z0-9_]+)=(?:"((?:[^"\\]|\\["\\nrt]|\\x[0-9a-f]{2})*)"|([^\s"=\\]+))(?: |$)')
UNESC = {'"': '"', "\\": "\\", "n": "\n", "r": "\r", "t": "\t"}


def logfmt(line):
    """The fields of one line, in order; AssertionError if it is not logfmt."""
    fields, pos = [], 0
    while pos < len(line):
        m = FIELD.match(line, pos)
        if m is None:
            raise AssertionError("not logfmt at %d: %r" % (pos, line))
        if m.group(3) is not None:
            v = m.group(3)
        else:
            v = re.sub(r'\\(x[0-9a-f]{2}|.)', lambda e: chr(int(e.group(1)[1:], 16))
                       if e.group(1)[0] == "x" else UNESC[e.group(1)], m.group(2))
        fields.append((m.group(1), v))
        pos = m.end()
    return fields


PRIORITY = {"error": 3, "warning": 4, "info": 6, "debug": 7}


def events(log_text, journal=False):
    """Every line parsed: [dict], checking level/event come first and, under
    the journal, the <N> prefix matches the level."""
    out = []
    for line in log_text.splitlines():
        if "AddressSanitizer" in line or line.startswith("    #"):
            continue
        prio = None
        if journal:
            m = re.match(r"<([0-7])>", line)
            assert m, "no priority prefix: %r" % line
            prio, line = int(m.group(1)), line[m.end():]
        f = logfmt(line)
        assert [k for k, _ in f[:2]] == ["level", "event"], line
        d = dict(f)
        assert len(d) == len(f), "a key twice: %r" % line
        if journal:
            assert prio == PRIORITY[d["level"]], line
        out.append(d)
    return out


# The job record's "finished" comes through cJSON, which prints 15
# significant digits whenever they are within its epsilon of the value
# (1796136397.42125 for ...97.4212499): the metrics print the exact
# double, so the two agree to a microsecond, not to the bit.
FINISHED_DELTA = 1e-5


class ObserveCase(unittest.TestCase):
    """One emulator with faults, one site whose output path needs quoting."""

    journal = False

    @classmethod
    def setUpClass(cls):
        cls.work = os.path.realpath(tempfile.mkdtemp(prefix="qp-observe-"))
        os.chmod(cls.work, 0o755)
        os.makedirs(os.path.join(cls.work, "emu"))
        # Retried faults (503: overload, reset) so retries by cause are not
        # all zero; the draws are seeded.
        cls.emu = harness.Emulator(os.path.join(cls.work, "emu"), scale="tiny",
                                   extra=["--latency-ms", "5", "--fault-rate", "0.3",
                                          "--faults", "503,reset"])
        cls.outdir = os.path.join(cls.work, "site a=\"1\"")
        harness.make_pages(cls.outdir, "tiny")
        cfg = harness.write_config(os.path.join(cls.work, "a.yaml"), cls.emu.url,
                                   '"%s"' % cls.outdir.replace('"', '\\"'),
                                   ca=cls.emu.ca, extra="  batch_size: 4\n")
        bad = harness.write_config(os.path.join(cls.work, "bad.yaml"), cls.emu.url,
                                   os.path.join(cls.work, "site-bad"), ca=cls.emu.ca,
                                   token="wrong-" + harness.TOKEN)
        harness.make_pages(os.path.join(cls.work, "site-bad"), "tiny")
        cls.mdir = os.path.join(cls.work, "textfile")
        os.makedirs(cls.mdir)
        cls.mfile = os.path.join(cls.mdir, "quickpaged.prom")
        cls.settings = dh.write_settings(os.path.join(cls.work, "quickpaged.yaml"),
                                         cls.work, {"a": cfg, "bad": bad},
                                         extra={"metrics_file": cls.mfile})
        env = {"QP_TEST_RENDER_DELAY_MS": str(HOLD_MS)}
        cls.d = dh.Daemon(cls.settings, cls.work, env=env)
        if cls.journal:
            # The journal's stream is our log file: the daemon checks
            # JOURNAL_STREAM against its stderr's device and inode.
            log = os.path.join(cls.work, "quickpaged.1.log")
            open(log, "w").close()
            st = os.stat(log)
            cls.d.env["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino)
        cls.d.start()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.d.stop_clean()
        finally:
            cls.emu.stop()
        shutil.rmtree(cls.work, ignore_errors=True)

    def prometheus(self):
        r = self.d.qpctl("stats", "--prometheus")
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def run_job(self, site, *args):
        r = self.d.qpctl("submit", "create-index", site, "--wait", *args)
        job_id = int(r.stdout.split()[1])
        return r, self.d.job(job_id)


class TestMetrics(ObserveCase):
    def file_text(self, pred, timeout=20):
        end = time.time() + timeout
        while time.time() < end:
            try:
                with open(self.mfile) as f:
                    text = f.read()
                if pred(parse(text)):
                    return text
            except FileNotFoundError:
                pass
            time.sleep(0.05)
        raise AssertionError("the metrics file never showed it")

    def assert_job_figures(self, m, s, n_jobs):
        """The counters of site a equal the summaries S (summed) of its jobs."""
        def total(key):
            return sum(x[key] for x in s)
        self.assertEqual(val(m, "quickpaged_queries_total", site="a"), total("queries"))
        self.assertEqual(val(m, "quickpaged_requests_total", site="a"), total("requests"))
        self.assertEqual(val(m, "quickpaged_response_bytes_total", site="a"),
                         total("bytes_in"))
        self.assertEqual(val(m, "quickpaged_batch_splits_total", site="a"), total("splits"))
        self.assertEqual(val(m, "quickpaged_request_timeouts_total", site="a"),
                         total("timeouts"))
        for cause in s[0]["retries_by_cause"]:
            self.assertEqual(val(m, "quickpaged_retries_total", site="a", cause=cause),
                             sum(x["retries_by_cause"][cause] for x in s), cause)
        self.assertEqual(val(m, "quickpaged_cache_hits_total", site="a"),
                         sum(x["cache"]["hits"] for x in s))
        self.assertEqual(val(m, "quickpaged_cache_misses_total", site="a"),
                         sum(x["cache"]["misses"] for x in s))
        self.assertEqual(val(m, "quickpaged_jobs_ended_total", site="a",
                             state="succeeded"), n_jobs)
        # Every request's round trip, in the emulator's server's histogram.
        srv = self.emu.url
        n = val(m, "quickpaged_request_duration_seconds_count", server=srv)
        self.assertEqual(n, total("requests"))
        self.assertEqual(val(m, "quickpaged_request_duration_seconds_bucket",
                             server=srv, le="+Inf"), n)
        rtts = [r for x in s for _, r in x["rtt_samples"]]
        self.assertEqual(len(rtts), n)
        self.assertAlmostEqual(val(m, "quickpaged_request_duration_seconds_sum",
                                   server=srv), sum(rtts), delta=0.01 * len(rtts))
        les = sorted((float(dict(k[1])["le"]), v) for k, v in m.items()
                     if k[0] == "quickpaged_request_duration_seconds_bucket")
        self.assertEqual([v for _, v in les], sorted(v for _, v in les))

    def test_metrics_follow_jobs(self):
        m = parse(self.prometheus())
        # Before any job: the named sites are there, at zero.
        self.assertEqual(val(m, "quickpaged_queries_total", site="a"), 0)
        self.assertEqual(val(m, "quickpaged_jobs", state="running"), 0)
        self.assertNotIn(("quickpaged_last_success_timestamp_seconds",
                          frozenset({"site": "a"}.items())), m)

        r, j1 = self.run_job("a", "--refresh")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        s1 = j1["summary"]
        self.assertGreater(sum(s1["retries_by_cause"].values()), 0, "no faults drawn")
        m = parse(self.prometheus())
        self.assert_job_figures(m, [s1], 1)
        self.assertAlmostEqual(val(m, "quickpaged_last_success_timestamp_seconds", site="a"),
                         j1["finished"], delta=FINISHED_DELTA)
        self.assertEqual(val(m, "quickpaged_jobs", state="running"), 0)
        self.assertEqual(val(m, "quickpaged_server_jobs", server=self.emu.url), 0)
        self.assertGreaterEqual(val(m, "quickpaged_server_concurrency_limit",
                                    server=self.emu.url), 1)

        # The file, written after the job ended, says the same.
        text = self.file_text(lambda f: f.get(("quickpaged_jobs_ended_total", frozenset(
            {"site": "a", "state": "succeeded"}.items()))) == 1)
        f = parse(text)
        self.assert_job_figures(f, [s1], 1)
        st = os.stat(self.mfile)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o644)
        # Written whole by rename: no temp file left beside it.
        self.assertEqual(os.listdir(self.mdir), ["quickpaged.prom"])

        # A second job held in its render: it counts as running, and its
        # work so far (its queries) is already in the counters.
        sub = self.d.request({"op": "submit", "site": "a"})
        self.assertTrue(sub["ok"], sub)
        jid = sub["job"]["job_id"]
        j = self.d.wait_job(jid, lambda x: x["stage"] == "render" or x["state"] != "running")
        self.assertEqual(j["stage"], "render", j)
        m = parse(self.prometheus())
        self.assertEqual(val(m, "quickpaged_jobs", state="running"), 1)
        self.assertEqual(val(m, "quickpaged_server_jobs", server=self.emu.url), 1)
        self.assertEqual(val(m, "quickpaged_server_concurrency_limit", server=self.emu.url),
                         self.d.job(jid)["limit"])
        self.assertGreater(val(m, "quickpaged_queries_total", site="a"), s1["queries"])
        j2 = self.d.wait_job(jid, lambda x: x["state"] != "running", timeout=60)
        self.assertEqual(j2["state"], "succeeded", j2)
        s2 = j2["summary"]
        self.assertGreater(s2["cache"]["hits"], 0)     # the first run stored them
        m = parse(self.prometheus())
        self.assert_job_figures(m, [s1, s2], 2)
        self.assertAlmostEqual(val(m, "quickpaged_last_success_timestamp_seconds", site="a"),
                         j2["finished"], delta=FINISHED_DELTA)

        # A failed job (the token refused) of another site.
        r, j3 = self.run_job("bad")
        self.assertEqual(j3["state"], "failed", j3)
        m = parse(self.file_text(lambda f: f.get(("quickpaged_jobs_ended_total", frozenset(
            {"site": "bad", "state": "failed"}.items()))) == 1))
        self.assertEqual(val(m, "quickpaged_jobs_ended_total", site="bad",
                             state="succeeded"), 0)
        self.assertNotIn(harness.TOKEN, m.__repr__())

        # A restart: counters start again, the last success comes from
        # the job store.
        self.assertEqual(self.d.stop(), 0)
        self.d.start()
        m = parse(self.prometheus())
        self.assertEqual(val(m, "quickpaged_queries_total", site="a"), 0)
        self.assertAlmostEqual(val(m, "quickpaged_last_success_timestamp_seconds", site="a"),
                         j2["finished"], delta=FINISHED_DELTA)
        self.assertNotIn(("quickpaged_last_success_timestamp_seconds",
                          frozenset({"site": "bad"}.items())), m)

    def test_bad_format(self):
        r = self.d.request({"op": "stats", "format": "xml"})
        self.assertFalse(r["ok"])
        self.assertEqual(r["error"]["code"], "invalid")
        r = self.d.qpctl("stats", "--prom")
        self.assertEqual(r.returncode, 2, r.stderr)


class TestMetricsFileSetting(unittest.TestCase):
    def test_relative_refused(self):
        work = tempfile.mkdtemp(prefix="qp-observe-set-")
        try:
            s = dh.write_settings(os.path.join(work, "q.yaml"), work, {},
                                  extra={"metrics_file": "metrics.prom"})
            r = dh.subprocess.run([harness.QUICKPAGED, "--config", s],
                                  stderr=dh.subprocess.PIPE, text=True, timeout=30)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("key 'metrics_file'", r.stderr)
        finally:
            shutil.rmtree(work, ignore_errors=True)


class TestLogLines(ObserveCase):
    def lifecycle(self, evs, job_id):
        mine = [e for e in evs if e.get("job") == str(job_id)
                and e["event"] != "job.state"]
        return [e["event"] for e in mine], {e["event"]: e for e in mine}

    def life(self, evs, job_id):
        """The job's life at debug level (job.state): one unbroken chain
        from new to ended."""
        moves = [(e["from"], e["to"]) for e in evs
                 if e.get("job") == str(job_id) and e["event"] == "job.state"]
        self.assertTrue(moves, "no job.state lines at debug level")
        self.assertEqual(moves[0][0], "new", moves)
        self.assertEqual(moves[-1][1], "ended", moves)
        for (_, to), (frm, _) in zip(moves, moves[1:]):
            self.assertEqual(to, frm, moves)
        return [m[1] for m in moves]

    def test_job_lifecycle_lines(self):
        r, j = self.run_job("a")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r, bad = self.run_job("bad")
        self.assertEqual(bad["state"], "failed")
        log = self.d.log_text()
        evs = events(log, self.journal)
        self.assertEqual(evs[0]["event"], "daemon.listening")
        names, by = self.lifecycle(evs, j["job_id"])
        self.assertEqual(names, ["job.queued", "job.running", "job.end"])
        for e in by.values():
            self.assertEqual(e["site"], "a")
            self.assertEqual(e["level"], "info")
        # The output path (space, '=' and quotes) comes back whole.
        self.assertEqual(by["job.queued"]["output"], self.outdir)
        self.assertEqual(by["job.running"]["output"], self.outdir)
        self.assertIn('output="%s"' % self.outdir.replace('"', '\\"'), log)
        self.assertEqual(by["job.running"]["attempt"], "1")
        self.assertEqual(by["job.queued"]["uid"], str(os.getuid()))
        end = by["job.end"]
        self.assertEqual((end["state"], end["stage"]), ("succeeded", "done"))
        self.assertEqual(end["entries"], str(j["summary"]["entries"]))
        self.assertGreater(float(end["duration_s"]), 0)
        # A failure is a warning with its error.
        names, by = self.lifecycle(evs, bad["job_id"])
        self.assertEqual(names, ["job.queued", "job.running", "job.end"])
        end = by["job.end"]
        self.assertEqual((end["level"], end["state"]), ("warning", "failed"))
        self.assertEqual(end["error"], bad["error"])
        self.assertIn("token", end["error"])
        self.assertEqual(end["stage"], bad["stage"])
        self.assertNotIn(harness.TOKEN, log)
        self.assertIn("rendering", self.life(evs, j["job_id"]))
        self.assertNotIn("rendering", self.life(evs, bad["job_id"]))

    def test_cancel_logged(self):
        sub = self.d.request({"op": "submit", "site": "a"})
        jid = sub["job"]["job_id"]
        self.d.wait_job(jid, lambda x: x["stage"] == "render" or x["state"] != "running")
        r = self.d.qpctl("cancel", str(jid))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.d.wait_job(jid, lambda x: x["state"] != "running", timeout=60)
        end = time.time() + 10
        while time.time() < end:
            names, by = self.lifecycle(events(self.d.log_text(), self.journal), jid)
            if "job.end" in names:
                break
            time.sleep(0.05)
        self.assertEqual(names, ["job.queued", "job.running", "job.cancel", "job.end"])
        self.assertEqual(by["job.cancel"]["uid"], str(os.getuid()))
        self.life(events(self.d.log_text(), self.journal), jid)


class TestLogLinesJournal(TestLogLines):
    """The same lines, each with its syslog priority, when stderr is the journal."""
    journal = True


if __name__ == "__main__":
    unittest.main()
