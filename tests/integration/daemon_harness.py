"""quickpaged as a daemon for the integration tests: settings in a temporary
directory, the process, qpctl, and raw socket helpers. Builds on harness.py.
"""
import json
import os
import signal
import socket
import subprocess
import time

import harness

QPCTL = os.environ.get("QPCTL", os.path.join(harness.BUILD, "client", "qpctl"))


def write_settings(path, workdir, sites, roots=None, extra=None):
    """A settings file with socket and state under WORKDIR."""
    s = {
        "socket": os.path.join(workdir, "qp.sock"),
        "state_dir": os.path.join(workdir, "state"),
        "cache_dir": os.path.join(workdir, "cache"),
        "log_level": "debug",
        "max_parallel_jobs": 4,
        "history_days": 30,
        "idle_timeout_ms": 1500,
        "stop_grace_s": 10,
    }
    s.update(extra or {})
    with open(path, "w", encoding="utf-8") as f:
        for k, v in s.items():
            f.write("%s: %s\n" % (k, v))
        f.write("sites:\n")
        for name, cfg in sites.items():
            f.write("  %s: %s\n" % (name, cfg))
        f.write("allowed_output_roots:\n")
        for r in roots or [workdir]:
            f.write("  - %s\n" % r)
    return path


class Daemon:
    """quickpaged --config SETTINGS in the foreground."""

    def __init__(self, settings, workdir, env=None, argv_prefix=None):
        """ARGV_PREFIX: a command that execs the daemon's command line given
        after it (unshare -m sh -c ...): the pid stays the daemon's."""
        self.settings = settings
        self.argv_prefix = list(argv_prefix or [])
        self.workdir = workdir
        self.socket = os.path.join(workdir, "qp.sock")
        self.env = dict(os.environ)
        self.env.pop("NEUPRINT_APPLICATION_CREDENTIALS", None)
        self.env.pop("NEUPRINT_TOKEN", None)
        self.env.pop("NOTIFY_SOCKET", None)
        self.env.pop("LISTEN_FDS", None)
        # ASan's leak check at exit is part of the verdict.
        self.env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        if env:
            self.env.update(env)
        self.proc = None
        self.logs = 0
        self.replies = []   # every reply and qpctl output, for the token scan

    def start(self, timeout=20):
        self.logs += 1
        self.log = os.path.join(self.workdir, "quickpaged.%d.log" % self.logs)
        self.proc = subprocess.Popen(self.argv_prefix +
                                     [harness.QUICKPAGED, "--config", self.settings],
                                     stdout=subprocess.DEVNULL,
                                     stderr=open(self.log, "w"), env=self.env)
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("quickpaged exited %d: %s" % (self.proc.returncode,
                                                                   self.log_text()))
            try:
                if self.request({"op": "ping"})["ok"]:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("quickpaged did not answer: " + self.log_text())

    def log_text(self):
        with open(self.log, encoding="utf-8", errors="replace") as f:
            return f.read()

    @property
    def pid(self):
        return self.proc.pid

    def rss_kb(self):
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return -1

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop_clean(self):
        """stop(), then fail unless the daemon exited 0 with no sanitizer
        report in its log: the end of every test class that runs one."""
        rc = self.stop()
        log = self.log_text()
        if rc != 0 or "ERROR: AddressSanitizer" in log or "runtime error" in log:
            raise AssertionError("quickpaged exited %d:\n%s" % (rc, log[-4000:]))

    def stop(self, timeout=30):
        """SIGTERM and wait; returns the exit status. Then the token scan
        (harness.assert_no_token) over the process, its logs, its job
        store and cache, and every reply: a token found fails the test."""
        if self.proc is None or self.proc.poll() is not None:
            rc = self.proc.returncode if self.proc else 0
            self.assert_no_token()
            return rc
        self.assert_no_token(proc=True)
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        self.assert_no_token()
        return rc

    def _setting(self, key, default):
        with open(self.settings, encoding="utf-8") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return line.split(":", 1)[1].strip()
        return default

    def assert_no_token(self, proc=False):
        """No test token (harness.TOKEN_MARK) in /proc/PID/{cmdline,environ,
        comm} (PROC), the daemon's logs, state_dir and cache_dir files, or
        any reply this object has seen."""
        places = []
        if proc and self.proc is not None and self.proc.poll() is None:
            for f in ("cmdline", "environ", "comm"):
                places.append("/proc/%d/%s" % (self.pid, f))
        places += [os.path.join(self.workdir, "quickpaged.%d.log" % i)
                   for i in range(1, self.logs + 1)]
        for d in (self._setting("state_dir", os.path.join(self.workdir, "state")),
                  self._setting("cache_dir", os.path.join(self.workdir, "cache"))):
            for root, _, files in os.walk(d):
                places += [os.path.join(root, f) for f in files]
        harness.assert_no_token(places, self.replies)

    def kill9(self):
        self.proc.kill()
        self.proc.wait()

    # -- talking --
    def connect(self, timeout=10):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(self.socket)
        return s

    def request(self, msg, timeout=10):
        """One request on a fresh connection; the reply as a dict."""
        msg = dict(msg)
        msg.setdefault("v", 1)
        msg.setdefault("id", 1)
        with self.connect(timeout) as s:
            s.sendall((json.dumps(msg) + "\n").encode())
            line = read_line(s)
            self.replies.append(line)
            return json.loads(line)

    def job(self, job_id):
        r = self.request({"op": "status", "job_id": job_id})
        assert r["ok"], r
        return r["job"]

    def wait_job(self, job_id, pred, timeout=60):
        end = time.time() + timeout
        while time.time() < end:
            j = self.job(job_id)
            if pred(j):
                return j
            time.sleep(0.05)
        raise AssertionError("job %d never reached the state: %r" % (job_id, j))

    def qpctl(self, *args, timeout=120, user=None):
        pre = None
        if user is not None:
            uid, gid = user

            def pre():
                os.setgroups([])
                os.setgid(gid)
                os.setuid(uid)
        r = subprocess.run([QPCTL, "--socket", self.socket] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=timeout, preexec_fn=pre)
        self.replies += [r.stdout, r.stderr]
        return r


def read_line(s, limit=1 << 22):
    """One '\\n'-terminated line from socket S; b'' at EOF.

    Takes no byte past the newline (it peeks first): the daemon may have
    answered two pipelined requests before we read, and the second line
    belongs to the next call.
    """
    buf = b""
    while len(buf) <= limit:
        d = s.recv(65536, socket.MSG_PEEK)
        if not d:
            break
        n = d.find(b"\n") + 1 or len(d)
        buf += s.recv(n)
        if buf.endswith(b"\n"):
            break
    return buf


def closed(s, timeout=5):
    """True when the peer has closed S (EOF within TIMEOUT)."""
    s.settimeout(timeout)
    try:
        while True:
            d = s.recv(65536)
            if not d:
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False
