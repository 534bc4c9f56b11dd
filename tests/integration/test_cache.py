"""The persistent cache (issue 15) end to end against the emulator.

A warm run (same dataset version) asks only META and writes the same
files as a cold run but for the generation time; a new version, or only a
new lastDatabaseEdit, is fetched again; a damaged cache file is moved
aside and rebuilt; kill -9 in a store, two runs at once and a full disk
never give a wrong or failed index.
"""
import glob
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

# The generation time as each file writes it (ISO 8601, neuView's
# "YYYY-MM-DD HH:MM:SS", or the home page's and README's minutes,
# "YYYY-MM-DD HH:MM UTC"); the dataset's lastDatabaseEdit, equal in both, too.
STAMP = re.compile(rb"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?Z?| UTC)")


def outputs(out):
    """Every file render writes (pages left out), generation time blanked."""
    got = {}
    for root, dirs, files in os.walk(out):
        dirs.sort()
        rel = os.path.relpath(root, out)
        if rel == "types" or (rel == "." and "types.json" not in files):
            pass
        for f in files:
            p = os.path.join(root, f)
            r = os.path.relpath(p, out)
            if r.endswith(".html") and r != "index.html":
                continue
            with open(p, "rb") as fh:
                got[r] = STAMP.sub(b"TIME", fh.read())
    return got


def oracle(pages, layout="quickpage", rules=None, extra=()):
    args = [h.PYTHON, h.EMU, "oracle", "--pages", pages, "--dataset", "cns",
            "--layout", layout] + h.data_flags("tiny", 1) + list(extra)
    if rules:
        args += ["--rules", rules]
    return json.loads(subprocess.run(args, check=True, stdout=subprocess.PIPE).stdout)


def page_stem(name):
    base = name[:-len(".html")]
    m = re.fullmatch(r"(.*)_[LRM]", base)
    return m.group(1) if m else base


def hold_pages(out, stems, held):
    """Move every page of STEMS from OUT to HELD (a flat site)."""
    os.makedirs(held, exist_ok=True)
    for p in glob.glob(os.path.join(out, "*.html")):
        if page_stem(os.path.basename(p)) in stems:
            shutil.move(p, held)


def site_stems(out):
    return sorted({page_stem(os.path.basename(p))
                   for p in glob.glob(os.path.join(out, "*.html"))
                   if os.path.basename(p) != "index.html"})


class Base(unittest.TestCase):
    def setUp(self):
        self.wd = h.Workdir()
        self.work = self.wd.__enter__()
        self.addCleanup(self.wd.__exit__, None, None, None)
        self.cache = os.path.join(self.work, "cache")
        self.emu = None
        self.addCleanup(lambda: self.emu and self.emu.stop())

    def start_emu(self, *extra, port=None):
        if self.emu:
            self.emu.stop()
        if port:
            extra = tuple(extra) + ("--port", str(port))
        self.emu = h.Emulator(self.work, "tiny", 1, extra=extra)
        return self.emu

    def site(self, name="site", layout="quickpage", rules=None):
        out = os.path.join(self.work, name)
        h.make_pages(out, "tiny", 1, layout=layout)
        extra = "  cache_dir: %s\n" % self.cache
        if rules:
            extra += "  rules: %s\n" % rules
        cfg = h.write_config(os.path.join(self.work, name + ".yaml"), self.emu.url, out,
                             self.emu.ca, extra=extra)
        return out, cfg

    def run_json(self, cfg, *args, env=None):
        r = h.run(cfg, "--json", *args, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout.strip().splitlines()[-1]), r.stderr

    def versions(self):
        db = sqlite3.connect(os.path.join(self.cache, "cache.db"))
        try:
            return db.execute("SELECT uuid, edit, (SELECT count(*) FROM stems s "
                              "WHERE s.version = v.id) FROM versions v").fetchall()
        finally:
            db.close()


class TestWarm(Base):
    def check_layout(self, layout, rules):
        self.start_emu()
        out, cfg = self.site(layout=layout, rules=rules)
        cold, _ = self.run_json(cfg)
        cold_files = outputs(out)
        self.assertEqual(cold["cache"]["mode"], "use")
        self.assertEqual(cold["cache"]["hits"], 0)
        self.assertEqual(cold["cache"]["stored"], cold["entries"])
        time.sleep(1.1)		# a different generation time, blanked
        warm, err = self.run_json(cfg)
        self.assertEqual(err, "")
        self.assertEqual(warm["requests"], 1, "a warm run asks META only")
        self.assertEqual(warm["cache"]["hits"], warm["entries"])
        self.assertEqual(warm["cache"]["misses"], 0)
        self.assertEqual(warm["cache"]["version"], warm["dataset_version"])
        self.assertEqual(outputs(out), cold_files)
        h.assert_same_index(self, h.load_types(out), oracle(out, layout, rules))
        # --no-cache and --refresh fetch everything and write the same.
        nc, _ = self.run_json(cfg, "--no-cache")
        self.assertEqual(nc["cache"]["mode"], "off")
        self.assertGreater(nc["requests"], 1)
        self.assertEqual(outputs(out), cold_files)
        rf, _ = self.run_json(cfg, "--refresh")
        self.assertEqual((rf["cache"]["mode"], rf["cache"]["hits"]), ("refresh", 0))
        self.assertEqual(rf["requests"], cold["requests"])
        self.assertEqual(outputs(out), cold_files)

    def test_quickpage_layout_quickpage_rules(self):
        self.check_layout("quickpage", None)

    def test_quickpage_layout_neuview_rules(self):
        self.check_layout("quickpage", "neuview")

    def test_neuview_layout_neuview_rules(self):
        self.check_layout("neuview", None)

    def test_neuview_layout_quickpage_rules(self):
        self.check_layout("neuview", "quickpage")

    def test_rules_change_uses_cached_data(self):
        """The cache holds data before the rules: a rule change still hits."""
        self.start_emu()
        out, cfg = self.site()
        self.run_json(cfg)
        with open(cfg, "a") as f:
            f.write("  rules: neuview\n  roi_threshold_pct: 2.5\n")
        warm, _ = self.run_json(cfg)
        self.assertEqual(warm["requests"], 1)
        want = oracle(out, rules="neuview", extra=("--roi-threshold-pct", "2.5"))
        h.assert_same_index(self, h.load_types(out), want)

    def test_new_and_vanished_pages(self):
        self.start_emu()
        out, cfg = self.site()
        stems = site_stems(out)
        held = os.path.join(self.work, "held")
        # A set of types whose pages come later: the 1 % of the bench.
        later = stems[:3]
        hold_pages(out, later, held)
        self.run_json(cfg)
        for p in glob.glob(os.path.join(held, "*")):
            shutil.move(p, out)
        # and one type's pages go
        hold_pages(out, stems[-1:], os.path.join(self.work, "gone"))
        second, _ = self.run_json(cfg)
        self.assertEqual(second["cache"]["misses"], len(later))
        self.assertEqual(second["cache"]["hits"], second["entries"] - len(later))
        self.assertLessEqual(second["requests"], 3)
        self.assertEqual(second["cache"]["stored"], len(later))
        h.assert_same_index(self, h.load_types(out), oracle(out))
        names = [t["name"] for t in h.load_types(out)["types"]]
        self.assertNotIn(stems[-1], names)


class TestVersions(Base):
    def check_change(self, flag, same_uuid):
        emu = self.start_emu()
        port = int(emu.url.rsplit(":", 1)[1])
        out, cfg = self.site()
        first, _ = self.run_json(cfg)
        (uuid0, edit0, n0), = self.versions()
        self.start_emu(flag, "0.2", port=port)	# same server, new version
        second, _ = self.run_json(cfg)
        self.assertEqual(second["cache"]["hits"], 0)
        self.assertEqual(second["requests"], first["requests"])
        self.assertNotEqual(second["dataset_version"], first["dataset_version"])
        h.assert_same_index(self, h.load_types(out), oracle(out, extra=(flag, "0.2")))
        # The old version went once the new index was written.
        (uuid1, edit1, n1), = self.versions()
        self.assertEqual(uuid1 == uuid0, same_uuid)
        self.assertNotEqual(edit1, edit0)
        self.assertEqual(n1, second["entries"])
        third, _ = self.run_json(cfg)
        self.assertEqual(third["requests"], 1)

    def test_dataset_mutated(self):
        self.check_change("--mutate-frac", False)

    def test_only_last_database_edit_changes(self):
        self.check_change("--annotate-frac", True)


class TestDamage(Base):
    def damaged(self, spoil, needle):
        self.start_emu()
        out, cfg = self.site()
        nc, _ = self.run_json(cfg, "--no-cache")
        want = outputs(out)
        self.run_json(cfg)
        db = os.path.join(self.cache, "cache.db")
        spoil(db)
        got, err = self.run_json(cfg)
        lines = [l for l in err.splitlines() if "moved aside" in l]
        self.assertEqual(len(lines), 1, err)
        self.assertIn(needle, lines[0])
        self.assertEqual(got["cache"]["hits"], 0)
        self.assertEqual(outputs(out), want)
        self.assertTrue(glob.glob(db + ".bad-*"))
        again, err = self.run_json(cfg)
        self.assertEqual((again["requests"], err), (1, ""))
        self.assertEqual(outputs(out), want)

    def test_garbage(self):
        def spoil(db):
            with open(db, "wb") as f:
                f.write(os.urandom(8192))
        self.damaged(spoil, "not a SQLite database")

    def test_truncated(self):
        def spoil(db):
            size = os.path.getsize(db)
            with open(db, "r+b") as f:
                f.truncate(size // 2)
        self.damaged(spoil, "truncated")

    def test_foreign(self):
        def spoil(db):
            os.unlink(db)
            c = sqlite3.connect(db)
            c.execute("CREATE TABLE notes(x)")
            c.commit()
            c.close()
        self.damaged(spoil, "another program's database")

    def test_other_schema(self):
        def spoil(db):
            c = sqlite3.connect(db)
            c.execute("PRAGMA user_version = 99")
            c.commit()
            c.close()
        self.damaged(spoil, "schema version 99")

    def test_stored_meta_differs_or_is_garbage(self):
        """The ROI stage a load runs before META is back uses the META
        answer stored with the version; one that differs from the
        server's (here rewritten) or does not parse never shapes the
        index: the run is still warm and writes what a cold run does."""
        self.start_emu()
        out, cfg = self.site()
        self.run_json(cfg)
        want = outputs(out)
        for meta in ('[["ME(R)"],"{}"]', "not json"):
            c = sqlite3.connect(os.path.join(self.cache, "cache.db"))
            c.execute("UPDATE versions SET meta = ?", (meta,))
            c.commit()
            c.close()
            got, err = self.run_json(cfg)
            self.assertEqual(err, "")
            self.assertEqual((got["requests"], got["cache"]["misses"]), (1, 0))
            self.assertEqual(outputs(out), want, meta)

    def test_damaged_entry_not_served(self):
        self.start_emu()
        out, cfg = self.site()
        self.run_json(cfg, "--no-cache")
        want = outputs(out)
        self.run_json(cfg)
        c = sqlite3.connect(os.path.join(self.cache, "cache.db"))
        c.execute("UPDATE stems SET data = zeroblob(length(data)) WHERE stem = "
                  "(SELECT min(stem) FROM stems)")
        c.commit()
        c.close()
        got, err = self.run_json(cfg)
        self.assertIn("1 damaged cache entries ignored", err)
        self.assertEqual(got["cache"]["misses"], 1)
        self.assertEqual(outputs(out), want)


class TestCrashAndSharing(Base):
    def test_kill9_during_store(self):
        self.start_emu()
        out, cfg = self.site()
        held = os.path.join(self.work, "held")
        hold_pages(out, site_stems(out)[:5], held)
        self.run_json(cfg)			# stored without those pages
        for p in glob.glob(os.path.join(held, "*")):
            shutil.move(p, out)		# back: new stems to store
        index = os.path.join(out, "index.html")
        before = os.stat(index).st_mtime_ns
        e = dict(os.environ, QP_TEST_CACHE_STORE_DELAY_MS="20000")
        p = subprocess.Popen([h.QUICKPAGED, "--run", "create-index", "--config", cfg,
                              "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=e)
        deadline = time.time() + 60
        # The index is written, so the store is under way (held 20 s
        # inside its transaction by the test hook).
        while time.time() < deadline and os.stat(index).st_mtime_ns == before:
            time.sleep(0.05)
        time.sleep(0.5)
        self.assertIsNone(p.poll(), "the run ended before the kill")
        p.send_signal(signal.SIGKILL)
        h.assert_no_token(texts=p.communicate())
        got, err = self.run_json(cfg)
        self.assertEqual(err, "")
        self.assertGreater(got["cache"]["hits"], 0)
        self.assertGreater(got["cache"]["misses"], 0, "the killed store left nothing")
        h.assert_same_index(self, h.load_types(out), oracle(out))
        again, _ = self.run_json(cfg)
        self.assertEqual(again["requests"], 1)

    def test_two_runs_at_once(self):
        self.start_emu()
        sites = [self.site("a"), self.site("b")]
        procs = [subprocess.Popen([h.QUICKPAGED, "--run", "create-index", "--config", c,
                                   "--json"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
                 for _, c in sites]
        for pr in procs:
            o, e = pr.communicate(timeout=300)
            h.assert_no_token(texts=(o, e))
            self.assertEqual(pr.returncode, 0, e)
            self.assertNotIn("moved aside", e)
        for out, cfg in sites:
            h.assert_same_index(self, h.load_types(out), oracle(out))
            warm, err = self.run_json(cfg)
            self.assertEqual((warm["requests"], err), (1, ""))


class TestFullDisk(Base):
    """The cache on a full file system (a small tmpfs in a private mount
    namespace): the run succeeds without the cache and says so."""

    def test_full_disk(self):
        self.start_emu()
        out, cfg = self.site()
        nc, _ = self.run_json(cfg, "--no-cache")
        want = outputs(out)
        os.makedirs(self.cache)
        # r1: a cold run fills the cache; then the disk is filled; r3
        # refreshes (has entries to write, no room); r4 has no cache file
        # and no room to make one.
        script = (
            'set -e; mount -t tmpfs -o size=512k tmpfs "$1"; '
            '"$2" --run create-index --config "$3" --json > "$4/r1" 2> "$4/e1"; '
            'dd if=/dev/zero of="$1/fill" bs=4k 2>/dev/null || true; '
            '"$2" --run create-index --config "$3" --json --refresh > "$4/r3" 2> "$4/e3"; '
            'rm -f "$1"/cache.db*; '
            '"$2" --run create-index --config "$3" --json > "$4/r4" 2> "$4/e4"')
        unshare = ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-rm"]
        r = subprocess.run(unshare + ["sh", "-c", script, "sh", self.cache, h.QUICKPAGED,
                                      cfg, self.work],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)

        def res(i):
            with open(os.path.join(self.work, "r%d" % i)) as f:
                j = json.loads(f.read().strip().splitlines()[-1])
            with open(os.path.join(self.work, "e%d" % i)) as f:
                return j, f.read()
        j1, e1 = res(1)
        self.assertEqual((j1["cache"]["stored"], e1), (j1["entries"], ""))
        j3, e3 = res(3)		# entries to write, nowhere to write them
        self.assertIn("disk full", e3)
        self.assertIn("the index is fine", e3)
        self.assertEqual(j3["cache"]["stored"], 0)
        self.assertEqual(outputs(out), want)
        j4, e4 = res(4)		# no cache file and no room for one
        self.assertIn("running without it", e4)
        self.assertEqual(len(e4.strip().splitlines()), 1, e4)
        self.assertEqual(outputs(out), want)


if __name__ == "__main__":
    unittest.main()


class TestDaemon(unittest.TestCase):
    """The daemon's cache (its cache_dir): submit modes, the summary, qpctl cache."""

    def setUp(self):
        import daemon_harness as dh
        self.wd = h.Workdir()
        self.work = os.path.realpath(self.wd.__enter__())
        self.addCleanup(self.wd.__exit__, None, None, None)
        os.chmod(self.work, 0o755)
        self.emu = h.Emulator(self.work, "tiny", 1)
        self.addCleanup(self.emu.stop)	# also when the daemon does not start
        self.out = os.path.join(self.work, "site-a")
        h.make_pages(self.out, "tiny", 1)
        cfg = h.write_config(os.path.join(self.work, "a.yaml"), self.emu.url, self.out,
                             ca=self.emu.ca)
        # b: the same dataset and pages, another output directory
        self.out_b = os.path.join(self.work, "site-b")
        h.make_pages(self.out_b, "tiny", 1)
        cfg_b = h.write_config(os.path.join(self.work, "b.yaml"), self.emu.url,
                               self.out_b, ca=self.emu.ca)
        settings = dh.write_settings(os.path.join(self.work, "qp.yaml"), self.work,
                                     {"a": cfg, "b": cfg_b})
        self.cache = os.path.join(self.work, "cache")
        self.d = dh.Daemon(settings, self.work).start()

    def tearDown(self):
        self.d.stop_clean()

    def job(self, *flags, site="a"):
        r = self.d.qpctl("submit", "create-index", site, "--wait", *flags)
        self.assertEqual(r.returncode, 0, r.stderr)
        return self.summary(r.stdout.split()[1])

    def summary(self, job_id):
        r = self.d.qpctl("--json", "status", str(job_id))
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)["job"]["summary"]

    def jobs_at_once(self, sites):
        """One job per site, submitted together; their summaries."""
        import daemon_harness as dh
        procs = [subprocess.Popen([dh.QPCTL, "--socket", self.d.socket, "submit",
                                   "create-index", s, "--wait"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for s in sites]
        ids = []
        for p in procs:
            o, e = p.communicate(timeout=300)
            self.assertEqual(p.returncode, 0, e)
            ids.append(o.split()[1])
        return [self.summary(i) for i in ids]

    def integrity(self):
        db = sqlite3.connect(os.path.join(self.cache, "cache.db"))
        try:
            return (db.execute("PRAGMA integrity_check").fetchone()[0],
                    db.execute("SELECT count(*) FROM versions").fetchone()[0],
                    db.execute("SELECT count(*) FROM stems").fetchone()[0])
        finally:
            db.close()

    def test_two_sites_one_cache_at_once(self):
        """Two jobs of one dataset into two output directories, at once,
        cold and then warm: both indexes right, the file sound, one
        version with each stem once, and every stem a hit or a miss."""
        for warm in (False, True):
            got = self.jobs_at_once(["a", "b"])
            for s in got:
                c = s["cache"]
                self.assertEqual(c["mode"], "use")
                self.assertEqual(c["hits"] + c["misses"], s["entries"])
                if warm:
                    self.assertEqual((s["requests"], c["hits"]), (1, s["entries"]))
                else:
                    # Cold: a job that started after the other's store is warm.
                    self.assertIn(c["hits"], (0, s["entries"]))
                self.assertIsNone(c["warning"])
            for out in (self.out, self.out_b):
                h.assert_same_index(self, h.load_types(out), oracle(out))
            self.assertEqual(outputs(self.out), outputs(self.out_b))
            self.assertEqual(self.integrity(), ("ok", 1, got[0]["entries"]))
        self.assertNotIn("moved aside", self.d.log_text())

    def test_restart_keeps_default_mode(self):
        """The cache and the default mode outlive the daemon: after a
        restart a plain submission is warm, and a --no-cache job cut off by
        kill -9 runs again in the default mode (the job store does not keep
        the mode, docs/daemon.md), warm too."""
        cold = self.job()
        self.assertEqual(self.d.stop(), 0)
        self.d.start()
        warm = self.job()
        self.assertEqual((warm["cache"]["mode"], warm["requests"], warm["cache"]["hits"]),
                         ("use", 1, cold["entries"]))
        # Held in its render (test hook), a --no-cache job is killed.
        self.assertEqual(self.d.stop(), 0)
        self.d.env["QP_TEST_RENDER_DELAY_MS"] = "60000"
        self.d.start()
        r = self.d.request({"op": "submit", "kind": "create-index", "site": "a",
                            "cache": "off"})
        self.assertTrue(r["ok"], r)
        job_id = r["job"]["job_id"]
        self.d.wait_job(job_id, lambda j: j["stage"] == "render", timeout=60)
        self.d.kill9()
        del self.d.env["QP_TEST_RENDER_DELAY_MS"]
        self.d.start()
        j = self.d.wait_job(job_id, lambda j: j["state"] not in ("queued", "running"),
                            timeout=120)
        self.assertEqual((j["state"], j["attempt"]), ("succeeded", 2), j)
        again = self.summary(job_id)
        self.assertEqual((again["cache"]["mode"], again["requests"],
                          again["cache"]["hits"]), ("use", 1, cold["entries"]))
        h.assert_same_index(self, h.load_types(self.out), oracle(self.out))

    def stats(self):
        r = self.d.qpctl("--json", "cache", "stats", "a")
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)["cache"]

    def test_modes_summary_stats_clear(self):
        cold = self.job()
        self.assertEqual((cold["cache"]["mode"], cold["cache"]["hits"]), ("use", 0))
        warm = self.job()
        self.assertEqual(warm["requests"], 1)
        self.assertEqual(warm["cache"]["hits"], warm["entries"])
        self.assertEqual(warm["cache"]["version"], warm["dataset_version"])
        h.assert_same_index(self, h.load_types(self.out), oracle(self.out))
        off = self.job("--no-cache")
        self.assertEqual(off["cache"]["mode"], "off")
        self.assertEqual(off["requests"], cold["requests"])
        ref = self.job("--refresh")
        self.assertEqual((ref["cache"]["mode"], ref["cache"]["hits"]), ("refresh", 0))
        self.assertEqual(ref["cache"]["stored"], ref["entries"])
        st = self.stats()
        self.assertEqual(st["entries"], warm["entries"])
        self.assertEqual(len(st["versions"]), 1)
        self.assertEqual(st["versions"][0]["version"], warm["dataset_version"])
        self.assertGreater(st["bytes"], 0)
        modes = [x["mode"] for x in st["runs"]]
        self.assertEqual(modes, ["refresh", "use", "use"])	# newest first; off: none
        self.assertAlmostEqual(st["hit_rate"], warm["entries"] / (3.0 * warm["entries"]))
        r = self.d.qpctl("cache", "stats")		# the whole cache
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('"entries"', r.stdout)
        r = self.d.qpctl("cache", "clear", "a")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("cache cleared: %d entries" % warm["entries"], r.stdout)
        self.assertEqual(self.stats()["entries"], 0)
        again = self.job()
        self.assertEqual(again["cache"]["hits"], 0)
        r = self.d.qpctl("cache", "stats", "nosuch")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no site 'nosuch' in the daemon's settings", r.stderr)

    def test_damaged_file_logged_once(self):
        self.job()
        with open(os.path.join(self.cache, "cache.db"), "wb") as f:
            f.write(b"garbage" * 1000)
        s = self.job()
        self.assertIn("moved aside", s["cache"]["warning"])
        h.assert_same_index(self, h.load_types(self.out), oracle(self.out))
        lines = [l for l in self.d.log_text().splitlines() if "moved aside" in l]
        self.assertEqual(len(lines), 1, lines)
        self.assertEqual(self.job()["requests"], 1)
