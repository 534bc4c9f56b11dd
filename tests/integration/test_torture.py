"""Failure torture, full disks and symlink swaps (issue 17, items 2, 3, 5).

The file seam QP_TEST_IO_FAULT (pipeline/base/fio.h) fails the N-th file
operation of the render, for every N of a tiny create-index job in both
layouts, until a run meets no fault (and the N-th socket of its HTTP
client, which the upstream retries): each failed run exits 1 with one line
naming the file and the call, no sanitizer report (leaks included), and
leaves the previous index as it was, byte for byte and without temp files.
A real full disk (a small tmpfs in a private mount namespace) does the
same, for the one-shot run and for the daemon, which goes on serving the
other sites and records why the job failed. A symlink swapped in while the
job runs never leads a write out of the output directory.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import harness as h
import daemon_harness as dh

# Where the outputs of each layout must be whole after any run.
OUTPUTS = {
    "quickpage": ["types.json", "static/js/neuron-search.js", "index.html"],
    "neuview": ["types.json", "data/neurons.json", "data/neurons.js",
                "static/js/neuron-search.js", "types.html", "help.html",
                "README.md", "index.html"],
}
OPS = ("open", "create temp file", "write", "fsync", "rename", "mkdir", "close")


def report(what):
    sys.stderr.write("REPORT: %s\n" % what)
    sys.stderr.flush()


def unshare():
    return ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-rm"]


def assert_whole(out, layout):
    """Every output of LAYOUT in OUT is there and complete."""
    for rel in OUTPUTS[layout]:
        with open(os.path.join(out, rel), encoding="utf-8") as f:
            text = f.read()
        if rel.endswith(".json"):
            json.loads(text)  # whole
        if rel.endswith(".html"):
            assert text.rstrip().endswith("</html>"), rel


class Base(unittest.TestCase):
    layout = "quickpage"

    def setUp(self):
        self.wd = h.Workdir(prefix="qp-torture-")
        self.work = os.path.realpath(self.wd.__enter__())
        self.addCleanup(self.wd.__exit__, None, None, None)
        self.out = os.path.join(self.work, "site")
        h.make_pages(self.out, "tiny", layout=self.layout)
        self.cfg = h.write_config(os.path.join(self.work, "site.yaml"),
                                  "https://127.0.0.1:9", self.out)

    def run_quick(self, fault=None):
        env = {"ASAN_OPTIONS": "detect_leaks=1"}
        if fault is not None:
            env["QP_TEST_IO_FAULT"] = fault
        return h.run(self.cfg, "--quick", env=env, timeout=120)

    def assert_one_line(self, r, reason):
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertNotIn("Sanitizer", r.stderr)
        self.assertNotIn("runtime error", r.stderr)
        self.assertIn(self.out, lines[0])
        self.assertIn(reason, lines[0])
        self.assertTrue(any(": %s: " % op in lines[0] for op in OPS), lines[0])
        return lines[0]

    def torture(self, spec, reason):
        """SPEC % n for n = 1, 2, ... until a run meets no fault (and two more
        runs confirm there is nothing left to fail). Returns how many failed."""
        r = self.run_quick()
        self.assertEqual(r.returncode, 0, r.stderr)
        n, clean = 0, 0
        while clean < 2:
            n += 1
            self.assertLess(n, 400, "the fault never stops being met")
            before = h.tree_digest(self.out)
            r = self.run_quick(spec % n)
            if r.returncode == 0:
                self.assertNotIn("Sanitizer", r.stderr)
                clean += 1
                continue
            self.assertEqual(clean, 0, "fault %s met after a clean run: %s"
                             % (spec % n, r.stderr))
            self.assertEqual(r.returncode, 1, r.stderr)
            line = self.assert_one_line(r, reason)
            if h.tree_digest(self.out) != before:
                # Only a directory's fsync comes after the commit: the new
                # set is in place, whole.
                self.assertIn(": fsync: ", line)
                self.assertNotIn(".json: fsync", line)
                self.assertNotIn(".html: fsync", line)
                assert_whole(self.out, self.layout)
        return n - 2


class TestTortureFlat(Base):
    def test_every_operation_fails(self):
        n = self.torture("%d", "Input/output error")
        report("torture (%s layout): %d file operations, each failed "
               "in turn: old index kept, one line each" % (self.layout, n))
        self.assertGreater(n, 10)

    def test_every_write_enospc(self):
        n = self.torture("write:%d:ENOSPC", "No space left on device")
        self.assertEqual(n, len(OUTPUTS[self.layout]))

    def test_every_fsync_eio(self):
        n = self.torture("fsync:%d:EIO", "Input/output error")
        self.assertGreater(n, len(OUTPUTS[self.layout]))  # and the dirs


class TestTortureNeuview(TestTortureFlat):
    layout = "neuview"


class TestSocketTorture(unittest.TestCase):
    """The job's sockets (curl's, through the seam): the N-th fails with
    EMFILE, for every N until a run meets none. The upstream retries the
    connect, the job succeeds with the right index, nothing leaks."""

    def test_every_socket_fails(self):
        with h.Workdir(prefix="qp-torture-s-") as work, h.Emulator(work, "tiny") as emu:
            out = os.path.join(work, "site")
            h.make_pages(out, "tiny")
            cfg = h.write_config(os.path.join(work, "site.yaml"), emu.url, out, emu.ca)
            want = h.oracle(out, "tiny")
            n = 0
            while True:
                n += 1
                self.assertLess(n, 100, "the fault never stops being met")
                r = h.run(cfg, "--json", "--no-cache", timeout=120,
                          env={"QP_TEST_IO_FAULT": "socket:%d:EMFILE" % n,
                               "ASAN_OPTIONS": "detect_leaks=1"})
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(r.stderr, "")
                s = json.loads(r.stdout.strip().splitlines()[-1])
                h.assert_same_index(self, h.load_types(out), want)
                if s["retries_by_cause"]["connect"] == 0:
                    break
                self.assertEqual(s["retries_by_cause"]["connect"], 1, s)
            report("socket torture: %d sockets, each failed in turn (EMFILE): "
                   "one connect retry each, index right" % (n - 1))
            self.assertGreaterEqual(n - 1, 1)


class TestFullDisk(Base):
    """A real full disk: the site on a 2 MB tmpfs in a private mount
    namespace, the previous index made there, then the disk filled."""

    def test_full_disk(self):
        src = self.out
        script = (
            'set -e; site="$1"; mkdir -p "$site.disk"; '
            'mount -t tmpfs -o size=2m tmpfs "$site.disk"; '
            'cp -a "$site/." "$site.disk/"; mount --bind "$site.disk" "$site"; '
            '"$2" --run create-index --config "$3" --quick 2> "$4/e1"; '
            'cd "$site"; find . -type f -print0 | sort -z | xargs -0 sha256sum > "$4/d1"; '
            'dd if=/dev/zero of="$site/fill" bs=4k 2>/dev/null || true; '
            'rc=0; "$2" --run create-index --config "$3" --quick 2> "$4/e2" || rc=$?; '
            'echo $rc > "$4/rc2"; rm "$site/fill"; '
            'find . -type f -print0 | sort -z | xargs -0 sha256sum > "$4/d2"')
        r = subprocess.run(unshare() + ["sh", "-c", script, "sh", src,
                                        os.path.abspath(h.QUICKPAGED),
                                        self.cfg, self.work],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=dict(os.environ, ASAN_OPTIONS="detect_leaks=1"))
        self.assertEqual(r.returncode, 0, r.stderr)

        def read(name):
            with open(os.path.join(self.work, name)) as f:
                return f.read()
        self.assertEqual(read("e1"), "")
        self.assertEqual(read("rc2").strip(), "1")
        e2 = read("e2")
        lines = [l for l in e2.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, e2)
        self.assertIn("No space left on device", lines[0])
        self.assertIn(self.out, lines[0])
        self.assertEqual(read("d1"), read("d2"))
        self.assertIn("index.html", read("d1"))


class TestFullDiskNeuview(TestFullDisk):
    layout = "neuview"


class TestDaemonFullDisk(unittest.TestCase):
    """The daemon in a private mount namespace where site "full" is on a
    full tmpfs: its job fails, the record says why, its index is as it was;
    site "ok" (on the ordinary disk) is served meanwhile and after."""

    def setUp(self):
        self.wd = h.Workdir(prefix="qp-torture-d-")
        self.work = os.path.realpath(self.wd.__enter__())
        self.addCleanup(self.wd.__exit__, None, None, None)
        os.chmod(self.work, 0o755)
        self.emu = h.Emulator(self.work, "tiny", 1, extra=["--latency-ms", "5"])
        self.addCleanup(self.emu.stop)
        sites = {}
        for name in ("full", "ok"):
            out = os.path.join(self.work, "site-" + name)
            h.make_pages(out, "tiny")
            sites[name] = h.write_config(os.path.join(self.work, name + ".yaml"),
                                         self.emu.url, out, ca=self.emu.ca)
        self.full = os.path.join(self.work, "site-full")
        settings = dh.write_settings(os.path.join(self.work, "quickpaged.yaml"),
                                     self.work, sites)
        script = ('set -e; mkdir -p "$1.disk"; mount -t tmpfs -o size=2m tmpfs "$1.disk"; '
                  'cp -a "$1/." "$1.disk/"; mount --bind "$1.disk" "$1"; shift; exec "$@"')
        self.d = dh.Daemon(settings, self.work,
                           argv_prefix=unshare() + ["sh", "-c", script, "sh", self.full])
        self.d.start()
        self.addCleanup(self.stop)

    def stop(self):
        rc = self.d.stop()
        log = self.d.log_text()
        self.assertEqual(rc, 0, log[-3000:])
        self.assertNotIn("Sanitizer", log)

    def run_job(self, site):
        r = self.d.request({"op": "submit", "kind": "create-index", "site": site})
        self.assertTrue(r["ok"], r)
        return self.d.wait_job(r["job"]["job_id"],
                               lambda j: j["state"] not in ("queued", "running"),
                               timeout=120)

    def seen(self):
        """The site as the daemon sees it (its mount namespace)."""
        return "/proc/%d/root%s" % (self.d.pid, self.full)

    def test_full_disk(self):
        self.assertEqual(self.run_job("full")["state"], "succeeded")
        before = h.tree_digest(self.seen())
        fill = os.path.join(self.seen(), "fill")
        with open(fill, "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
            except OSError:
                pass
        j = self.run_job("full")
        self.assertEqual(j["state"], "failed", j)
        self.assertIn("No space left on device", j.get("error", ""), (j, self.d.log_text()[-3000:]))
        self.assertIn(self.full, j["error"])
        self.assertNotIn("\n", j["error"])
        os.unlink(fill)
        self.assertEqual(h.tree_digest(self.seen()), before)
        # The other site was never on that disk: served as ever.
        self.assertEqual(self.run_job("ok")["state"], "succeeded")
        # And with room again the site is rebuilt.
        self.assertEqual(self.run_job("full")["state"], "succeeded")


class TestSymlinkSwap(Base):
    """A symlink swapped in while the job runs, held at a chosen file
    operation by the seam's pause: no write leaves the output directory."""
    open_static = 2     # the render's open of static/, to make static/js

    def setUp(self):
        super().setUp()
        r = self.run_quick()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.outside = os.path.join(self.work, "victim")
        os.makedirs(self.outside)
        with open(os.path.join(self.outside, "neuron-search.js"), "w") as f:
            f.write("theirs")
        self.victim = h.tree_digest(self.outside)

    def swap_during(self, fault, path, wait):
        """Run with FAULT (a pause), replace PATH (relative to the site) by
        a symlink to the victim directory while the run waits."""
        env = dict(os.environ, QP_TEST_IO_FAULT=fault, ASAN_OPTIONS="detect_leaks=1")
        env.pop("NEUPRINT_TOKEN", None)
        p = subprocess.Popen([h.QUICKPAGED, "--run", "create-index", "--config",
                              self.cfg, "--quick"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
        time.sleep(wait)
        target = os.path.join(self.out, path)
        moved = target + ".moved"
        os.rename(target, moved)
        os.symlink(self.outside, target)
        out, err = p.communicate(timeout=60)
        self.assertEqual(h.tree_digest(self.outside), self.victim)
        self.assertEqual(os.listdir(self.outside), ["neuron-search.js"])
        return p.returncode, err, moved

    def test_swap_before_open(self):
        rc, err, _ = self.swap_during("open:%d:pause=1500" % self.open_static,
                                      "static", 0.7)
        self.assertEqual(rc, 1, err)
        self.assertIn("static: a symlink", err)

    def test_swap_before_commit(self):
        # rename #1: everything is staged, static/js is held open by fd.
        rc, err, moved = self.swap_during("rename:1:pause=1500", "static/js", 0.7)
        self.assertEqual(rc, 0, err)
        with open(os.path.join(moved, "neuron-search.js")) as f:
            self.assertGreater(len(f.read()), 100)


class TestSymlinkSwapNeuview(TestSymlinkSwap):
    layout = "neuview"
    open_static = 7     # after the root, types.json and data/'s two files


class TestDaemonSwap(unittest.TestCase):
    """The daemon resolved and checked the output directory when it took the
    job; a symlink swapped in on that path, or under it, while the job is
    held before its render leads no write out of the allowed root."""

    def setUp(self):
        self.wd = h.Workdir(prefix="qp-torture-w-")
        self.work = os.path.realpath(self.wd.__enter__())
        self.addCleanup(self.wd.__exit__, None, None, None)
        os.chmod(self.work, 0o755)
        self.root = os.path.join(self.work, "root")
        self.site = os.path.join(self.root, "site")
        h.make_pages(self.site, "tiny")
        self.victim = os.path.join(self.work, "victim")  # outside the root
        os.makedirs(os.path.join(self.victim, "static", "js"))
        for rel in ("index.html", "types.json", "static/js/neuron-search.js"):
            with open(os.path.join(self.victim, rel), "w") as f:
                f.write("theirs")
        cfg = h.write_config(os.path.join(self.work, "site.yaml"),
                             "https://127.0.0.1:9", self.site)
        settings = dh.write_settings(os.path.join(self.work, "quickpaged.yaml"),
                                     self.work, {"s": cfg}, roots=[self.root])
        self.d = dh.Daemon(settings, self.work,
                           env={"QP_TEST_RENDER_DELAY_MS": "1500"}).start()
        self.addCleanup(self.stop)

    def stop(self):
        rc = self.d.stop()
        log = self.d.log_text()
        self.assertEqual(rc, 0, log[-3000:])
        self.assertNotIn("Sanitizer", log)

    def held_then(self, swap):
        before = h.tree_digest(self.victim)
        r = self.d.request({"op": "submit", "kind": "create-index", "site": "s",
                            "quick": True})
        self.assertTrue(r["ok"], r)
        jid = r["job"]["job_id"]
        self.d.wait_job(jid, lambda j: j["stage"] == "render", timeout=30)
        swap()
        j = self.d.wait_job(jid, lambda j: j["state"] not in ("queued", "running"),
                            timeout=60)
        self.assertEqual(h.tree_digest(self.victim), before)
        return j

    def test_output_dir_swapped(self):
        def swap():
            os.rename(self.site, self.site + ".moved")
            os.symlink(self.victim, self.site)
        j = self.held_then(swap)
        self.assertEqual(j["state"], "failed", j)
        self.assertIn("a symlink is on the output directory's path", j["error"])

    def test_static_swapped(self):
        self.assertEqual(self.held_then(lambda: None)["state"], "succeeded")

        def swap():
            static = os.path.join(self.site, "static")
            os.rename(static, static + ".moved")
            os.symlink(os.path.join(self.victim, "static"), static)
        j = self.held_then(swap)
        self.assertEqual(j["state"], "failed", j)
        self.assertIn("static: a symlink", j["error"])


if __name__ == "__main__":
    unittest.main()
