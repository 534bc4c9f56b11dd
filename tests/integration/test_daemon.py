"""quickpaged as a daemon: the protocol, qpctl, jobs, durability, signals.

Every class starts its own emulators and daemon on a socket and state
directory in a temporary directory (allowed_output_roots = that directory).
Idle RSS and submit-to-start latency are printed, not asserted.
"""
import json
import os
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import harness
import daemon_harness as dh

SLOW = ["--latency-ms", "400", "--capacity", "2"]
FAST = ["--latency-ms", "5"]


def report(what):
    sys.stderr.write("REPORT: %s\n" % what)
    sys.stderr.flush()


class DaemonCase(unittest.TestCase):
    """Two emulators (fast, slow), three sites, one daemon."""

    @classmethod
    def setUpClass(cls):
        cls.work = os.path.realpath(tempfile.mkdtemp(prefix="qp-daemon-"))
        os.chmod(cls.work, 0o755)
        cls.fast = harness.Emulator(cls._mk("emu-fast"), scale="tiny", extra=FAST)
        cls.slow = harness.Emulator(cls._mk("emu-slow"), scale="tiny", extra=SLOW)
        cls.sites = {}
        for name, emu, extra in (("a", cls.fast, ""), ("b", cls.fast, ""),
                                 ("slow", cls.slow, "  batch_size: 5\n")):
            out = os.path.join(cls.work, "site-" + name)
            harness.make_pages(out, "tiny")
            cls.sites[name] = harness.write_config(
                os.path.join(cls.work, name + ".yaml"), emu.url, out, ca=emu.ca,
                extra=extra)
        cls.settings = dh.write_settings(os.path.join(cls.work, "quickpaged.yaml"),
                                         cls.work, cls.sites)
        cls.d = dh.Daemon(cls.settings, cls.work).start()

    @classmethod
    def _mk(cls, name):
        p = os.path.join(cls.work, name)
        os.makedirs(p)
        return p

    @classmethod
    def tearDownClass(cls):
        try:
            cls.d.stop_clean()
        finally:
            cls.fast.stop()
            cls.slow.stop()
        shutil.rmtree(cls.work, ignore_errors=True)

    def out(self, name):
        return os.path.join(self.work, "site-" + name)

    def submit(self, site, **kw):
        msg = {"op": "submit", "kind": "create-index", "site": site}
        msg.update(kw)
        r = self.d.request(msg)
        self.assertTrue(r["ok"], r)
        return r

    def assert_index_whole(self, name):
        got = harness.load_types(self.out(name))
        want = harness.oracle(self.out(name), "tiny")
        harness.assert_same_index(self, got, want)


class TestClient(DaemonCase):
    def test_ping(self):
        r = self.d.qpctl("ping")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("protocol 1", r.stdout)

    def test_submit_wait_status_list(self):
        r = self.d.qpctl("submit", "create-index", "a", "--wait")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("succeeded", r.stdout)
        job_id = int(r.stdout.split()[1])
        self.assertEqual(r.stdout.strip().splitlines()[-1],
                         os.path.join(self.out("a"), "index.html"))
        self.assert_index_whole("a")
        r = self.d.qpctl("status", str(job_id))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("succeeded", r.stdout)
        r = self.d.qpctl("--json", "status", str(job_id))
        j = json.loads(r.stdout)["job"]
        self.assertEqual(j["state"], "succeeded")
        self.assertEqual(j["uid"], os.getuid())
        self.assertEqual(j["summary"]["entries"], j["total"])
        self.assertNotIn(harness.TOKEN, r.stdout)
        r = self.d.qpctl("list")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(str(job_id), r.stdout)
        r = self.d.qpctl("stats")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("rss_kb", r.stdout)

    def test_follow_and_watch(self):
        r = self.d.qpctl("submit", "create-index", "b", "--follow")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("succeeded", r.stdout)
        job_id = int(r.stdout.split()[1])
        r = self.d.qpctl("watch", str(job_id))      # already ended
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.submit("slow")
        job_id = r["job"]["job_id"]
        r = self.d.qpctl("watch", str(job_id))
        self.assertEqual(r.returncode, 0, r.stderr)
        # not a terminal: plain progress lines, then the outcome
        self.assertIn("job %d slow: " % job_id, r.stdout)
        self.assertIn("in flight, limit", r.stdout)
        self.assertIn("succeeded", r.stdout)

    def test_quick(self):
        r = self.d.qpctl("submit", "create-index", "a", "--quick", "--wait")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_usage_and_unreachable(self):
        self.assertEqual(self.d.qpctl("submit").returncode, 2)
        self.assertEqual(self.d.qpctl("frobnicate").returncode, 2)
        self.assertEqual(self.d.qpctl("cancel", "x").returncode, 2)
        r = dh.subprocess.run([dh.QPCTL, "--socket", "/nonexistent/qp.sock", "ping"],
                              capture_output=True, text=True)
        self.assertEqual(r.returncode, 3)
        self.assertIn("is it running", r.stderr)
        r = self.d.qpctl("status", "999999")
        self.assertEqual(r.returncode, 1)
        self.assertIn("qpctl list", r.stderr)
        r = self.d.qpctl("submit", "create-index", "nosuchsite")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no site", r.stderr)


class TestJobs(DaemonCase):
    def test_cancel_running_and_queued(self):
        r = self.submit("slow")
        first = r["job"]["job_id"]
        self.d.wait_job(first, lambda j: j["state"] == "running")
        # same output directory: waits for the first
        second = self.submit("slow", quick=True)["job"]["job_id"]
        self.assertEqual(self.d.job(second)["state"], "queued")
        r = self.d.qpctl("cancel", str(second))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.d.job(second)["state"], "cancelled")
        r = self.d.qpctl("cancel", str(first))
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.d.qpctl("watch", str(first))
        self.assertEqual(r.returncode, 4, r.stdout + r.stderr)
        self.assertEqual(self.d.job(first)["state"], "cancelled")
        r = self.d.qpctl("cancel", str(first))
        self.assertEqual(r.returncode, 1)
        self.assertIn("already ended", r.stderr)

    def test_same_output_never_together_and_merge(self):
        first = self.submit("slow")["job"]["job_id"]
        self.d.wait_job(first, lambda j: j["state"] == "running")
        second = self.submit("slow")
        self.assertFalse(second["merged"])
        third = self.submit("slow")
        self.assertTrue(third["merged"])
        self.assertEqual(third["job"]["job_id"], second["job"]["job_id"])
        # a different site runs at once, on the same loop
        other = self.submit("a")["job"]["job_id"]
        self.d.wait_job(other, lambda j: j["state"] == "succeeded")
        self.assertEqual(self.d.job(second["job"]["job_id"])["state"], "queued")
        j2 = self.d.wait_job(second["job"]["job_id"],
                             lambda j: j["state"] == "succeeded", timeout=120)
        j1 = self.d.job(first)
        self.assertGreaterEqual(j2["started"], j1["finished"])

    def test_twenty_clients(self):
        results = [None] * 20

        def one(i):
            site = ("a", "b")[i % 2]
            results[i] = self.d.qpctl("submit", "create-index", site, "--wait",
                                      timeout=180)
        threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
        t0 = time.time()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for r in results:
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        report("20 concurrent qpctl submit --wait: %.2f s" % (time.time() - t0))
        self.assert_index_whole("a")
        self.assert_index_whole("b")
        self.assertTrue(self.d.request({"op": "ping"})["ok"])

    def test_latency_and_rss(self):
        idle = self.d.rss_kb()
        lat = []
        for _ in range(5):
            r = self.submit("a", quick=True)
            j = self.d.wait_job(r["job"]["job_id"], lambda j: j["state"] == "succeeded")
            lat.append(j["started"] - j["created"])
        report("idle RSS %d kB (ASan build); submit-to-start latency median %.2f ms, "
               "max %.2f ms" % (idle, sorted(lat)[2] * 1e3, max(lat) * 1e3))


class TestProtocol(DaemonCase):
    def raw(self, data, half=False):
        s = self.d.connect()
        s.sendall(data)
        return s

    def error_then_closed(self, s, code):
        line = dh.read_line(s)
        r = json.loads(line)
        self.assertFalse(r["ok"])
        self.assertEqual(r["error"]["code"], code, r)
        self.assertTrue(dh.closed(s))
        s.close()

    def test_malformed(self):
        for data, code in ((b"not json\n", "bad_request"),
                           (b"[1, 2]\n", "bad_request"),
                           (b'{"v": 2, "op": "ping"}\n', "unsupported_version"),
                           (b'{"v": 1}\n', "unknown_op"),
                           (b'{"v": 1, "op": "reboot"}\n', "unknown_op"),
                           (b'{"v": 1, "op": "ping", "id": "x"}\n', "bad_request"),
                           (b'{"v":1,"op":"ping"}\x00junk\n', "bad_request")):
            self.error_then_closed(self.raw(data), code)
        # a request error that is not malformed keeps the connection
        s = self.d.connect()
        s.sendall(b'{"v":1,"op":"status","job_id":-4,"id":7}\n{"v":1,"op":"ping","id":8}\n')
        r = json.loads(dh.read_line(s))
        self.assertEqual((r["id"], r["error"]["code"]), (7, "invalid"))
        self.assertTrue(json.loads(dh.read_line(s))["ok"])
        s.close()
        self.assertTrue(self.d.request({"op": "ping"})["ok"])

    def test_oversized(self):
        s = self.d.connect()
        try:
            s.sendall(b"{" + b" " * (2 << 20))
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.error_then_closed(s, "too_large")
        self.assertTrue(self.d.request({"op": "ping"})["ok"])

    def test_half_sent_and_idle(self):
        t0 = time.time()
        self.error_then_closed(self.raw(b'{"v": 1, "op": "pi'), "timeout")
        self.assertLess(time.time() - t0, 10)
        self.error_then_closed(self.raw(b""), "timeout")
        # closing mid-request is harmless
        s = self.raw(b'{"v": 1, "op": "sub')
        s.close()
        self.assertTrue(self.d.request({"op": "ping"})["ok"])

    def test_slow_reader(self):
        """A client that sends much and reads nothing is dropped, not buffered."""
        s = self.d.connect()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        req = b'{"v":1,"op":"list","limit":1000}\n' * 2000
        try:
            s.settimeout(20)
            s.sendall(req)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            pass
        s.close()
        self.assertTrue(self.d.request({"op": "ping"})["ok"])

    def test_many_idle_connections_then_ping(self):
        conns = [self.d.connect() for _ in range(50)]
        self.assertTrue(self.d.request({"op": "ping"})["ok"])
        for c in conns:
            c.close()


class TestAccess(DaemonCase):
    def client_config(self, out, name="c.yaml", **kw):
        path = os.path.join(self.work, name)
        harness.write_config(path, self.fast.url, out, ca=self.fast.ca, **kw)
        return path

    def test_client_template_dir(self):
        """A client's template_dir is used inside the roots, refused outside."""
        tpl = os.path.join(self.work, "templates")
        shutil.copytree(os.path.join(harness.ROOT, "data", "templates"), tpl)
        with open(os.path.join(tpl, "index.html"), "a") as f:
            f.write("<!-- client override -->\n")
        out = os.path.join(self.work, "client-tpl")
        harness.make_pages(out, "tiny")
        r = self.d.qpctl("submit", "create-index", "--config",
                         self.client_config(out, "tpl.yaml", template_dir=tpl),
                         "--wait")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        with open(os.path.join(out, "index.html"), encoding="utf-8") as f:
            self.assertIn("<!-- client override -->", f.read())
        # the source tree's templates lie outside allowed_output_roots
        r = self.d.qpctl("submit", "create-index", "--config", self.client_config(
            out, "tpl-out.yaml",
            template_dir=os.path.join(harness.ROOT, "data", "templates")))
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("template_dir", r.stderr)
        self.assertIn("allowed_output_roots", r.stderr)

    def test_client_config(self):
        out = os.path.join(self.work, "client-site")
        harness.make_pages(out, "tiny")
        r = self.d.qpctl("submit", "create-index", "--config",
                         self.client_config(out), "--wait")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        harness.assert_same_index(self, harness.load_types(out),
                                  harness.oracle(out, "tiny"))
        con = sqlite3.connect(os.path.join(self.work, "state", "jobs.db"))
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(self.work, "state",
                                                           "jobs.db")).st_mode), 0o600)
        con.close()
        r = self.d.qpctl("--json", "list")
        self.assertNotIn(harness.TOKEN, r.stdout)
        self.assertNotIn(harness.TOKEN, self.d.log_text())

    def test_outside_roots_refused(self):
        outside = os.path.realpath(tempfile.mkdtemp(prefix="qp-outside-"))
        try:
            harness.make_pages(outside, "tiny")
            r = self.d.qpctl("submit", "create-index", "--config",
                             self.client_config(outside, "out.yaml"))
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertIn("allowed_output_roots", r.stderr)
            self.assertIn("refused", r.stderr)
            # a symlink inside the root that leads out is resolved
            link = os.path.join(self.work, "sneaky")
            os.symlink(outside, link)
            r = self.d.qpctl("submit", "create-index", "--config",
                             self.client_config(link, "sneaky.yaml"))
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertIn("allowed_output_roots", r.stderr)
            # a string prefix is not a parent directory
            twin = self.work + "-twin"
            os.makedirs(twin, exist_ok=True)
            r = self.d.qpctl("submit", "create-index", "--config",
                             self.client_config(twin, "twin.yaml"))
            self.assertEqual(r.returncode, 1)
            os.rmdir(twin)
            self.assertFalse(os.path.exists(os.path.join(outside, "index.html")))
        finally:
            shutil.rmtree(outside, ignore_errors=True)

    def test_client_config_without_token_refused(self):
        out = os.path.join(self.work, "client-site2")
        os.makedirs(out, exist_ok=True)
        r = self.d.qpctl("submit", "create-index", "--config",
                         self.client_config(out, "notoken.yaml", token=None))
        self.assertEqual(r.returncode, 1)
        self.assertIn("token", r.stderr)

    def qpctl_as_nobody(self, *args):
        """qpctl as user and group 65534, from a copy that user can run.

        The build tree may sit where nobody cannot enter (a checkout in
        root's 0700 home), so the binary is copied to a temporary directory
        of its own: root's, mode 0711 (enter, not list), the copy 0755.
        The socket's directory (self.work, 0755 under /tmp) is reachable.
        """
        if not hasattr(self, "nobody_bin"):
            d = tempfile.mkdtemp(prefix="qp-nobody-")
            self.addCleanup(shutil.rmtree, d, True)
            os.chmod(d, 0o711)
            self.nobody_bin = os.path.join(d, "qpctl")
            shutil.copy(dh.QPCTL, self.nobody_bin)
            os.chmod(self.nobody_bin, 0o755)

        def drop():
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
        return subprocess.run([self.nobody_bin, "--socket", self.d.socket] +
                              list(args), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=120,
                              preexec_fn=drop)

    def test_socket_mode_and_other_users(self):
        st = os.stat(self.d.socket)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o660)
        if os.getuid() != 0:
            # Fails under CI (tests/pyunit): CI runs as root.
            self.skipTest("needs root to act as another user (uid 65534)")
        # neither owner nor group: the socket's mode keeps them out
        r = self.qpctl_as_nobody("ping")
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn("group", r.stderr)
        # in the socket's group: may talk, may not cancel root's job
        os.chown(self.d.socket, -1, 65534)
        try:
            job = self.submit("slow")["job"]["job_id"]
            r = self.qpctl_as_nobody("cancel", str(job))
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn("only that user, root", r.stderr)
            self.assertEqual(self.d.qpctl("cancel", str(job)).returncode, 0)
        finally:
            os.chown(self.d.socket, -1, 0)


class TestDurability(DaemonCase):
    def test_kill9_during_fetch_then_restart(self):
        os.unlink(os.path.join(self.out("slow"), "types.json")) if os.path.exists(
            os.path.join(self.out("slow"), "types.json")) else None
        job = self.submit("slow")["job"]["job_id"]
        queued = self.submit("a", quick=True)  # may be queued or running
        self.d.wait_job(job, lambda j: j["stage"] == "fetch", timeout=30)
        time.sleep(0.5)
        self.d.kill9()
        self.d.start()
        j = self.d.wait_job(job, lambda j: j["state"] not in ("queued", "running"),
                            timeout=120)
        self.assertEqual(j["state"], "succeeded", j)
        self.assertEqual(j["attempt"], 2)
        self.assert_index_whole("slow")
        q = self.d.wait_job(queued["job"]["job_id"],
                            lambda j: j["state"] == "succeeded")
        self.assertEqual(q["state"], "succeeded")

    def test_kill9_right_after_ack(self):
        """A submission is acknowledged only once its record is committed:
        kill -9 the moment the last ack arrives, and every acked job is in
        jobs.db (read by another process before any restart), then runs."""
        acked = []
        for site, quick in (("a", True), ("b", True), ("slow", True), ("a", False)):
            r = self.submit(site, quick=quick)
            acked.append(r["job"]["job_id"])
        self.d.kill9()
        db = sqlite3.connect(os.path.join(self.work, "state", "jobs.db"))
        try:
            rows = dict(db.execute("SELECT id, state FROM jobs WHERE id IN (%s)"
                                   % ",".join(str(i) for i in acked)).fetchall())
        finally:
            db.close()
        self.assertEqual(sorted(rows), sorted(set(acked)), rows)
        self.d.start()
        for i in acked:
            j = self.d.wait_job(i, lambda j: j["state"] not in ("queued", "running"),
                                timeout=120)
            self.assertEqual(j["state"], "succeeded", j)

    def test_sigterm_requeues_then_restart(self):
        job = self.submit("slow")["job"]["job_id"]
        self.d.wait_job(job, lambda j: j["state"] == "running")
        watcher = self.d.connect()
        watcher.sendall(b'{"v":1,"op":"watch","job_id":%d}\n' % job)
        t0 = time.time()
        self.assertEqual(self.d.stop(), 0)
        report("SIGTERM with a running job: exit 0 after %.2f s" % (time.time() - t0))
        lines = watcher.recv(1 << 20).decode().splitlines()
        self.assertIn("stopping", lines[-1])
        watcher.close()
        self.assertFalse(os.path.exists(self.d.socket))
        self.d.start()
        j = self.d.wait_job(job, lambda j: j["state"] == "succeeded", timeout=120)
        self.assertGreaterEqual(j["attempt"], 2)

    def test_sighup_reload(self):
        job = self.submit("slow")["job"]["job_id"]
        self.d.wait_job(job, lambda j: j["state"] == "running")
        sites = dict(self.sites)
        sites["c"] = self.sites["a"]
        dh.write_settings(self.settings, self.work, sites,
                          extra={"max_parallel_jobs": 2})
        self.d.signal(signal.SIGHUP)
        end = time.time() + 10
        while "reloaded" not in self.d.log_text() and time.time() < end:
            time.sleep(0.05)
        r = self.d.qpctl("submit", "create-index", "c", "--quick", "--wait")
        self.assertEqual(r.returncode, 0, r.stderr)
        j = self.d.wait_job(job, lambda j: j["state"] == "succeeded", timeout=120)
        self.assertEqual(j["attempt"], 1)       # reload did not disturb it
        # a broken file keeps the settings in force
        with open(self.settings, "a") as f:
            f.write("max_parallel_jobs: [\n")
        self.d.signal(signal.SIGHUP)
        end = time.time() + 10
        while "keeping the current settings" not in self.d.log_text() and time.time() < end:
            time.sleep(0.05)
        self.assertIn("keeping the current settings", self.d.log_text())
        self.assertTrue(self.d.request({"op": "ping"})["ok"])
        dh.write_settings(self.settings, self.work, self.sites)


class TestRenderOffLoop(unittest.TestCase):
    """Two jobs on one daemon and one upstream: A renders while B's queries
    are in flight. The render is held for RENDER_DELAY_MS by the test hook
    QP_TEST_RENDER_DELAY_MS (pipeline/base/fio.h), so the overlap is certain, not
    a race; B's round trips during it must stay near the emulator's latency.
    With render on the loop thread the answers B got meanwhile wait for the
    loop, and their round trips grow to the delay (checked by hand: see
    docs/daemon.md, "Threads")."""

    LATENCY_MS = 100
    RENDER_DELAY_MS = 3000
    # B's round trips: the modelled latency plus generous room for a loaded,
    # sanitized build, and still a third of the delay
    BOUND_S = LATENCY_MS / 1000.0 + 0.9

    @classmethod
    def setUpClass(cls):
        cls.work = os.path.realpath(tempfile.mkdtemp(prefix="qp-render-"))
        os.chmod(cls.work, 0o755)
        emu_dir = os.path.join(cls.work, "emu")
        os.makedirs(emu_dir)
        cls.emu = harness.Emulator(emu_dir, scale="demo", extra=[
            "--latency-ms", str(cls.LATENCY_MS), "--capacity", "16",
            "--queue", "64"])
        cls.sites = {}
        # B: many small batches at a fixed limit of 4 (it configures the
        # shared upstream: first job), so it is fetching throughout A's
        # render. A: a few big batches, then its render.
        for name, extra in (
                ("b", "  batch_size: 5\n  concurrency:\n    min: 4\n"
                      "    initial: 4\n    max: 4\n"),
                ("a", ""), ("c", "")):
            out = os.path.join(cls.work, "site-" + name)
            harness.make_pages(out, "tiny" if name == "c" else "demo")
            cls.sites[name] = harness.write_config(
                os.path.join(cls.work, name + ".yaml"), cls.emu.url, out,
                ca=cls.emu.ca, extra=extra)
        cls.settings = dh.write_settings(os.path.join(cls.work, "quickpaged.yaml"),
                                         cls.work, cls.sites)
        cls.d = dh.Daemon(cls.settings, cls.work, env={
            "QP_TEST_RENDER_DELAY_MS": str(cls.RENDER_DELAY_MS),
            "UV_THREADPOOL_SIZE": "1"}).start()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.d.stop_clean()
        finally:
            cls.emu.stop()
        shutil.rmtree(cls.work, ignore_errors=True)

    def submit(self, site, quick=False):
        # cache off: every job fetches (a warm B would not overlap A's render)
        r = self.d.request({"op": "submit", "kind": "create-index", "site": site,
                            "quick": quick, "cache": "off"})
        self.assertTrue(r["ok"], r)
        return r["job"]["job_id"]

    def test_render_does_not_stall_other_jobs_queries(self):
        self.assertEqual(self.d.request({"op": "status"})["jobs"], [])  # idle
        b = self.submit("b")
        self.d.wait_job(b, lambda j: j["stage"] == "fetch", timeout=60)
        a = self.submit("a")
        ja = self.d.wait_job(a, lambda j: j["state"] not in ("queued", "running"),
                             timeout=120)
        jb = self.d.wait_job(b, lambda j: j["state"] not in ("queued", "running"),
                             timeout=300)
        self.assertEqual(ja["state"], "succeeded", ja)
        self.assertEqual(jb["state"], "succeeded", jb)
        sa, sb = ja["summary"], jb["summary"]

        # A's render, on the upstream's clock (both jobs share it)
        r0 = sa["up_t0"] + sa["stage_start_s"]["render"]
        r1 = r0 + sa["stage_s"]["render"]
        self.assertGreaterEqual(r1 - r0, self.RENDER_DELAY_MS / 1000.0,
                                "the test hook did not hold the render")
        # B's answers whose round trip overlapped A's render
        during = [(sb["up_t0"] + t - rtt, sb["up_t0"] + t, rtt)
                  for t, rtt in sb["rtt_samples"]]
        during = [x for x in during if x[0] < r1 and x[1] > r0]
        report("B: %d answers overlapped A's %.2f s render; their round trips: "
               "max %.3f s, median %.3f s (bound %.2f s, emulator latency %d ms)"
               % (len(during), r1 - r0, max(x[2] for x in during) if during else -1,
                  sorted(x[2] for x in during)[len(during) // 2] if during else -1,
                  self.BOUND_S, self.LATENCY_MS))
        # the precondition: B really was fetching all through A's render
        last_b = sb["up_t0"] + max(t for t, _ in sb["rtt_samples"])
        self.assertGreater(last_b, r1, "B's fetch ended before A's render did")
        slow = [x for x in during if x[2] > self.BOUND_S]
        self.assertEqual(slow, [], "B's round trips grew while A rendered")
        self.assertGreaterEqual(len(during), 20, "B had too few queries in "
                                "flight during A's render")
        # B kept sending all through the render: no gap near the delay
        starts = sorted(x[0] for x in during)
        gaps = [q - p for p, q in zip(starts, starts[1:])]
        self.assertLess(max(gaps), self.BOUND_S)

    def wait_end(self, job_id, timeout=120):
        return self.d.wait_job(job_id, lambda j: j["state"] not in ("queued", "running"),
                               timeout=timeout)

    def stored_state(self, job_id):
        """The state jobs.db holds, read by this process (daemon stopped)."""
        db = sqlite3.connect(os.path.join(self.work, "state", "jobs.db"))
        try:
            (state,), = db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,))
        finally:
            db.close()
        return state

    def render_a_then_queue_c(self):
        """A in its render (holding the daemon's one pool thread: the class
        sets UV_THREADPOOL_SIZE=1), then C (--quick, fast): C's first pool
        work, the scan of its pages, waits in the pool behind A's render."""
        a = self.submit("a")
        self.d.wait_job(a, lambda j: j["stage"] == "render", timeout=120)
        c = self.submit("c", quick=True)
        self.d.wait_job(c, lambda j: j["stage"] == "scan", timeout=30)
        time.sleep(0.5)  # a tiny site's scan takes a millisecond on its own
        self.assertEqual(self.d.job(c)["stage"], "scan",
                         "C's scan did not wait for the pool thread")
        self.assertEqual(self.d.job(a)["stage"], "render",
                         "A's render ended before C was queued behind it")
        return a, c

    def test_cancel_and_sigterm_during_render(self):
        """Cancel and SIGTERM while jobs render. Work still waiting for a
        pool thread (C's scan) is abandoned: cancelled, or queued again on
        SIGTERM, and nothing of it reaches the disk. A render under way
        (A's, in the test hook's delay) finishes whole and decides the
        outcome: succeeded, not run again. Whether A's pool thread had
        started when the cancel came is up to the scheduler, so for A both
        outcomes are accepted, each with what it implies. The daemon stops
        without needing its grace period."""
        out_a, out_c = (os.path.join(self.work, "site-" + n) for n in "ac")
        before_a, before_c = harness.tree_digest(out_a), harness.tree_digest(out_c)
        a, c = self.render_a_then_queue_c()
        r = self.d.request({"op": "cancel", "job_id": c})
        self.assertTrue(r["ok"], r)
        self.assertEqual(self.wait_end(c)["state"], "cancelled")
        self.assertEqual(harness.tree_digest(out_c), before_c)
        r = self.d.request({"op": "cancel", "job_id": a})
        self.assertTrue(r["ok"], r)
        done = self.wait_end(a)
        report("cancel during A's render: A %s" % done["state"])
        if done["state"] == "cancelled":
            self.assertEqual(harness.tree_digest(out_a), before_a)
        else:
            self.assertEqual(done["state"], "succeeded", done)
            harness.assert_same_index(self, harness.load_types(out_a),
                                      harness.oracle(out_a, "demo"))

        before_a = harness.tree_digest(out_a)
        a, c = self.render_a_then_queue_c()
        t0 = time.time()
        self.assertEqual(self.d.stop(), 0)
        report("SIGTERM during a %d ms render: exit 0 after %.2f s"
               % (self.RENDER_DELAY_MS, time.time() - t0))
        log = self.d.log_text()
        self.assertNotIn("did not stop within", log)
        self.assertNotIn("ERROR: AddressSanitizer", log)
        self.assertEqual(self.stored_state(c), "queued")
        self.assertEqual(harness.tree_digest(out_c), before_c)
        stored_a = self.stored_state(a)
        report("SIGTERM during A's render: A stored as %s" % stored_a)
        if stored_a == "queued":
            self.assertEqual(harness.tree_digest(out_a), before_a)
        else:
            self.assertEqual(stored_a, "succeeded")
        self.d.start()
        for job, attempts in ((a, 2 if stored_a == "queued" else 1), (c, 2)):
            st = self.wait_end(job)
            self.assertEqual(st["state"], "succeeded", st)
            self.assertEqual(st["attempt"], attempts, st)
        harness.assert_same_index(self, harness.load_types(out_a),
                                  harness.oracle(out_a, "demo"))


class TestSettings(unittest.TestCase):
    def test_bad_settings(self):
        with harness.Workdir() as w:
            p = os.path.join(w, "bad.yaml")
            for text, want in (("socket: /x\nnope: 1\n", "nope"),
                               ("log_level: loud\n", "log_level"),
                               ("sites:\n  a: relative.yaml\n", ":2: key 'sites.a'"),
                               ("max_parallel_jobs: many\n", "max_parallel_jobs")):
                with open(p, "w") as f:
                    f.write(text)
                r = dh.subprocess.run([harness.QUICKPAGED, "--config", p],
                                      capture_output=True, text=True, timeout=30)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn(want, r.stderr)

    def test_sd_notify_and_socket_activation(self):
        """READY/STOPPING reach NOTIFY_SOCKET (abstract); LISTEN_FDS is used."""
        with harness.Workdir() as w:
            settings = dh.write_settings(os.path.join(w, "s.yaml"), w, {})
            ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            name = "\0qp-test-%d" % os.getpid()
            ns.bind(name)
            ns.settimeout(20)
            ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            path = os.path.join(w, "activated.sock")
            ls.bind(path)
            ls.listen(8)
            fd = ls.fileno()
            env = dict(os.environ, NOTIFY_SOCKET="@" + name[1:])

            env["LISTEN_FDS"] = "1"
            # LISTEN_PID must be the daemon's own pid: set it in the child.
            p = dh.subprocess.Popen(["/bin/sh", "-c",
                                     'LISTEN_PID=$$ exec "$0" --config "$1"',
                                     harness.QUICKPAGED, settings],
                                    env=env, pass_fds=(3,),
                                    preexec_fn=lambda: os.dup2(fd, 3),
                                    stderr=dh.subprocess.PIPE, text=True)
            try:
                try:
                    msg = ns.recv(4096).decode()
                except socket.timeout:
                    p.kill()
                    self.fail("no READY=1: " + p.communicate()[1])
                self.assertIn("READY=1", msg)
                c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                c.connect(path)
                c.sendall(b'{"v":1,"op":"ping"}\n')
                self.assertTrue(json.loads(dh.read_line(c))["ok"])
                c.close()
                self.assertFalse(os.path.exists(os.path.join(w, "qp.sock")))
                p.send_signal(signal.SIGTERM)
                msg = ns.recv(4096).decode()
                self.assertIn("STOPPING=1", msg)
                self.assertEqual(p.wait(30), 0)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
                ns.close()
                ls.close()


if __name__ == "__main__":
    unittest.main()
