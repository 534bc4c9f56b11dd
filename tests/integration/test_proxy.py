"""quickpaged through an institutional HTTPS proxy (issue 24, part 7).

Each test starts Debian's tinyproxy (tools/deps installs tinyproxy-bin) in
the foreground on a free loopback port with its own config and log in a
temporary directory, and points https_proxy at it. The job's TLS runs end
to end through the proxy's CONNECT tunnel to the emulator (its private
CA). The proxy's own log shows every CONNECT, so a job that bypassed the
proxy would fail the test; with no_proxy naming the emulator's host the
log must show none. A proxy that refuses (407, 401, 403), cannot reach
the server (502) or is not there gives one line that names the proxy
(without credentials) and what it said, and the previous index stays
byte for byte.
"""
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

import daemon_harness as dh
import harness

TINYPROXY = shutil.which("tinyproxy") or "/usr/sbin/tinyproxy"
PROXY_USER = "alice"
# Holds the token mark: the daemon's token scan (/proc/PID/environ, logs,
# job store, replies) guards the proxy's password too.
PROXY_PASSWORD = "pw-%s-proxy" % harness.TOKEN_MARK
PROXY_VARS = ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
              "http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY")
UNTOUCHED = " (the previous index, if any, is untouched)"


def proxy_env(**kv):
    """Every proxy variable empty (unset for quickpaged and libcurl) but KV."""
    e = {v: "" for v in PROXY_VARS}
    e.update(kv)
    return e


def free_port():
    """A loopback port nothing listens on (just closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Tinyproxy:
    """tinyproxy -d with its own config; ACL, Basic auth or an upstream."""

    def __init__(self, workdir, name, allow="127.0.0.1", auth=False,
                 upstream=None):
        if not os.path.exists(TINYPROXY):
            raise RuntimeError("tinyproxy is missing: run tools/deps "
                               "(Debian package tinyproxy-bin)")
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir)
        self.log = os.path.join(self.dir, "tinyproxy.log")
        for _ in range(5):      # another process may take the port first
            self.port = free_port()
            conf = os.path.join(self.dir, "tinyproxy.conf")
            with open(conf, "w") as f:
                f.write("Port %d\nListen 127.0.0.1\nTimeout 30\n"
                        "LogFile \"%s\"\nLogLevel Info\nMaxClients 50\n"
                        "Allow %s\n" % (self.port, self.log, allow))
                if auth:
                    f.write("BasicAuth %s %s\n" % (PROXY_USER, PROXY_PASSWORD))
                if upstream:
                    f.write("Upstream http %s\n" % upstream)
            self.proc = subprocess.Popen([TINYPROXY, "-d", "-c", conf],
                                         stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
            if self._wait_listening():
                self.url = "http://127.0.0.1:%d" % self.port
                return
            self.stop()
        raise RuntimeError("tinyproxy did not start: see %s" % self.log)

    def _wait_listening(self):
        """Until its log says it accepts: a probe connection of ours would
        show in the log as a client."""
        end = time.time() + 10
        while time.time() < end and self.proc.poll() is None:
            if any("Accepting connections" in l for l in self.lines()):
                return True
            time.sleep(0.05)
        return False

    def lines(self):
        try:
            with open(self.log, encoding="utf-8", errors="replace") as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def connects(self):
        """The targets of the CONNECT requests the proxy received."""
        return [m.group(1) for m in
                (re.search(r"Request \(file descriptor \d+\): CONNECT (\S+) ", l)
                 for l in self.lines()) if m]

    def denied(self):
        return sum("Unauthorized connection from" in l for l in self.lines())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class ProxyCase(unittest.TestCase):
    """One emulator and the proxies a test asks for, in a temp dir."""

    def setUp(self):
        self.work = os.path.realpath(tempfile.mkdtemp(prefix="qp-proxy-"))
        os.chmod(self.work, 0o755)
        self.proxies = []
        self.emu = harness.Emulator(self._mk("emu"))
        self.target = self.emu.url[len("https://"):]   # 127.0.0.1:PORT
        self.out = os.path.join(self.work, "site")
        harness.make_pages(self.out)
        # 2 retries (0.25 s, 0.5 s backoff): a retried failure shows 3 CONNECTs.
        self.config = harness.write_config(
            os.path.join(self.work, "site.yaml"), self.emu.url, self.out,
            ca=self.emu.ca, extra="  max_retries: 2\n")

    def tearDown(self):
        for p in self.proxies:
            p.stop()
        self.emu.stop()
        shutil.rmtree(self.work, ignore_errors=True)

    def _mk(self, name):
        p = os.path.join(self.work, name)
        os.makedirs(p)
        return p

    def proxy(self, name, **kw):
        p = Tinyproxy(self.work, name, **kw)
        self.proxies.append(p)
        return p

    def with_credentials(self, p, password=PROXY_PASSWORD):
        return "http://%s:%s@127.0.0.1:%d" % (PROXY_USER, password, p.port)

    def assert_index_whole(self):
        harness.assert_same_index(self, harness.load_types(self.out),
                                  harness.oracle(self.out))

    def assert_no_proxy_secret(self, *texts):
        for t in texts:
            if isinstance(t, bytes):
                t = t.decode("utf-8", "replace")
            self.assertNotIn(PROXY_PASSWORD, t)
            self.assertNotIn("wrong-" + PROXY_PASSWORD, t)

    # The line a refused CONNECT gives, after "create-index failed: ".
    def refused(self, p, said, hint, var="https_proxy"):
        return ("the proxy refused the tunnel to neuPrint: proxy %s (from %s) "
                "answered CONNECT %s with %s%s" % (p.url, var, self.target,
                                                   said, hint))

    def unreachable(self, p, said):
        return ("reading the dataset's metadata failed: gave up after 3 "
                "attempts: proxy %s (from https_proxy) answered CONNECT %s "
                "with %s" % (p.url, self.target, said))


ASK_CREDENTIALS = (": it wants a user and password, given as "
                   "http://USER:PASSWORD@HOST:PORT in https_proxy")
BAD_CREDENTIALS = ": it refused the user and password given in https_proxy"
FORBIDDEN = ": its rules refuse this client or destination"


class TestRun(ProxyCase):
    """quickpaged --run create-index with the proxy in its environment."""

    def run_job(self, **env):
        r = harness.run(self.config, env=proxy_env(**env), timeout=120)
        self.assert_no_proxy_secret(r.stdout, r.stderr)
        return r

    def test_through_the_proxy(self):
        p = self.proxy("open")
        r = self.run_job(https_proxy=p.url)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_index_whole()
        # Every connection of the job went through the tunnel.
        self.assertGreaterEqual(len(p.connects()), 1, p.lines())
        self.assertEqual(set(p.connects()), {self.target})

    def test_precedence(self):
        """https_proxy over HTTPS_PROXY over all_proxy; HTTPS_PROXY alone
        is honoured (libcurl ignores only uppercase HTTP_PROXY)."""
        a, b, c = self.proxy("a"), self.proxy("b"), self.proxy("c")
        r = self.run_job(https_proxy=a.url, HTTPS_PROXY=b.url, all_proxy=c.url)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual((len(a.connects()) > 0, b.connects(), c.connects()),
                         (True, [], []))
        r = self.run_job(HTTPS_PROXY=b.url, all_proxy=c.url)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertGreater(len(b.connects()), 0)
        self.assertEqual(c.connects(), [])
        self.assert_index_whole()

    def test_no_proxy_goes_direct(self):
        p = self.proxy("open")
        for var, value in (("no_proxy", "localhost,127.0.0.1"),
                           ("NO_PROXY", "127.0.0.0/8"),
                           ("no_proxy", "*")):
            r = self.run_job(https_proxy=p.url, **{var: value})
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(p.connects(), [], (var, value))
        self.assert_index_whole()
        # A list that does not name the emulator's host leaves the proxy on.
        r = self.run_job(https_proxy=p.url, no_proxy="neuprint.example.org")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(set(p.connects()), {self.target})

    def test_credentials(self):
        p = self.proxy("auth", auth=True)
        r = self.run_job(https_proxy=self.with_credentials(p))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_index_whole()
        self.assertEqual(set(p.connects()), {self.target})

    def assert_fails(self, env, line):
        """The job fails with exactly LINE; the previous index stays."""
        before = harness.previous_index(self.out)
        r = self.run_job(**env)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(r.stderr.splitlines(),
                         ["quickpaged: create-index failed: " + line + UNTOUCHED])
        self.assertEqual(harness.tree_digest(self.out), before)
        return r

    def test_407_no_credentials(self):
        p = self.proxy("auth", auth=True)
        self.assert_fails({"https_proxy": p.url},
                          self.refused(p, "407 Proxy Authentication Required",
                                       ASK_CREDENTIALS))
        self.assertEqual(p.connects(), [self.target])      # final: not retried

    def test_wrong_credentials(self):
        p = self.proxy("auth", auth=True)
        # tinyproxy answers wrong credentials with 401, not 407.
        url = self.with_credentials(p, "wrong-" + PROXY_PASSWORD)
        self.assert_fails({"https_proxy": url},
                          self.refused(p, "401 Unauthorized", BAD_CREDENTIALS))
        self.assertEqual(p.connects(), [self.target])

    def test_403_acl(self):
        p = self.proxy("acl", allow="192.0.2.1")
        self.assert_fails({"HTTPS_PROXY": p.url},
                          self.refused(p, "403 Access denied", FORBIDDEN,
                                       var="HTTPS_PROXY"))
        self.assertEqual(p.denied(), 1)                     # final: not retried

    def test_502_upstream_unreachable(self):
        p = self.proxy("chain", upstream="127.0.0.1:%d" % free_port())
        self.assert_fails({"https_proxy": p.url},
                          self.unreachable(p, "502 Unable to connect to "
                                           "upstream proxy"))
        # Transient, as a server's 502: 1 + max_retries tunnels asked for.
        self.assertEqual(p.connects(), [self.target] * 3)

    def test_proxy_not_there(self):
        port = free_port()
        before = harness.previous_index(self.out)
        r = self.run_job(https_proxy="http://%s:%s@127.0.0.1:%d" %
                         (PROXY_USER, PROXY_PASSWORD, port))
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertRegex(r.stderr, (
            r"\Aquickpaged: create-index failed: reading the dataset's metadata "
            r"failed: gave up after 3 attempts: Failed to connect to 127\.0\.0\.1 "
            r"port %d after \d+ ms: Couldn't connect to server \(curl 7, through "
            r"the proxy http://127\.0\.0\.1:%d from https_proxy\)%s\n\Z") %
            (port, port, re.escape(UNTOUCHED)))
        self.assertNotIn(PROXY_USER, r.stderr)
        self.assertEqual(harness.tree_digest(self.out), before)

    def test_unusable_proxy_url(self):
        before = harness.previous_index(self.out)
        r = self.run_job(https_proxy="ftp://%s:%s@proxy.example:21" %
                         (PROXY_USER, PROXY_PASSWORD))
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertEqual(r.stderr, "quickpaged: https_proxy: unsupported proxy "
                         "scheme \"ftp\" (http, https, socks4, socks4a, socks5 "
                         "or socks5h)\n")
        self.assertEqual(harness.tree_digest(self.out), before)


class TestDaemon(ProxyCase):
    """The daemon gets the proxy from its environment (systemd: a drop-in's
    Environment=), and its jobs go through it."""

    def daemon(self, **env):
        settings = dh.write_settings(os.path.join(self.work, "quickpaged.yaml"),
                                     self.work, {"site": self.config})
        self.d = dh.Daemon(settings, self.work, env=proxy_env(**env)).start()
        return self.d

    def tearDown(self):
        try:
            if getattr(self, "d", None) is not None:
                self.d.stop_clean()
                self.assert_no_proxy_secret(self.d.log_text(), *self.d.replies)
        finally:
            super().tearDown()

    def test_through_the_proxy(self):
        p = self.proxy("auth", auth=True)
        d = self.daemon(https_proxy=self.with_credentials(p))
        r = d.qpctl("submit", "create-index", "site", "--wait")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_index_whole()
        self.assertEqual(set(p.connects()), {self.target})
        # Said once at start, without the credentials.
        self.assertIn('event=daemon.proxy proxy=%s from=https_proxy no_proxy=""'
                      % p.url, d.log_text())

    def test_no_proxy_goes_direct(self):
        p = self.proxy("open")
        d = self.daemon(https_proxy=p.url, NO_PROXY="127.0.0.1")
        r = d.qpctl("submit", "create-index", "site", "--wait")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_index_whole()
        self.assertEqual(p.connects(), [])

    def test_407(self):
        p = self.proxy("auth", auth=True)
        before = harness.previous_index(self.out)
        d = self.daemon(https_proxy=p.url)
        r = d.qpctl("--json", "submit", "create-index", "site", "--wait")
        self.assertEqual(r.returncode, 1, r.stderr)
        job = d.job(1)
        self.assertEqual(job["state"], "failed")
        self.assertEqual(job["error"], self.refused(
            p, "407 Proxy Authentication Required", ASK_CREDENTIALS))
        self.assertEqual(harness.tree_digest(self.out), before)
        self.assertEqual(p.connects(), [self.target])

    def test_502(self):
        p = self.proxy("chain", upstream="127.0.0.1:%d" % free_port())
        before = harness.previous_index(self.out)
        d = self.daemon(https_proxy=p.url)
        r = d.qpctl("submit", "create-index", "site", "--wait")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(d.job(1)["error"], self.unreachable(
            p, "502 Unable to connect to upstream proxy"))
        self.assertEqual(harness.tree_digest(self.out), before)

    def test_unusable_proxy_url_stops_the_start(self):
        settings = dh.write_settings(os.path.join(self.work, "quickpaged.yaml"),
                                     self.work, {"site": self.config})
        e = dict(os.environ)
        e.update(proxy_env(HTTPS_PROXY="http://%s:%s@" % (PROXY_USER,
                                                         PROXY_PASSWORD)))
        r = subprocess.run([harness.QUICKPAGED, "--config", settings],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, env=e, timeout=30)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertEqual(r.stderr, "quickpaged: HTTPS_PROXY is not a proxy URL "
                         "(expected http://[USER:PASSWORD@]HOST:PORT)\n")


if __name__ == "__main__":
    unittest.main()
