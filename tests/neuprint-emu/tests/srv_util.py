"""Helpers for test_server.py and the measuring scripts: start the real
neuprint-emu executable as a subprocess and talk to it over verified HTTPS."""

import http.client
import json
import os
import select
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
EXE = os.path.join(ROOT, "neuprint-emu")
TOKEN = "test-token.abc.def"


def proc_rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for ln in f:
                if ln.startswith("VmRSS:"):
                    return int(ln.split()[1])
    except OSError:
        pass
    return None


def proc_cpu_s(pid):
    """user+system CPU seconds of a process (Linux /proc)."""
    with open("/proc/%d/stat" % pid) as f:
        parts = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(parts[11]) + int(parts[12])) / tick


class Emu:
    """One emulator process. `url`, `port`, `ca` once started."""

    def __init__(self, *extra, scale="tiny", tls_dir=None, cache_dir=None, host="127.0.0.1",
                 token=TOKEN, latency_ms=0, start_timeout=120,
                 server=("--server-version", "1.7.2", "--dataset", "cns")):
        self.tmp = tempfile.mkdtemp(prefix="srv-emu-")
        self.tls_dir = tls_dir or os.path.join(self.tmp, "tls")
        self.cache_dir = cache_dir if cache_dir is not None else os.path.join(self.tmp, "cache")
        self.host = host
        self.token = token
        cmd = [sys.executable, EXE, "serve", "--token", token, "--scale", scale,
               "--tls-dir", self.tls_dir, "--cache-dir", self.cache_dir, "--host", host,
               "--port", "0", "--latency-ms", str(latency_ms)] + list(server) + list(extra)
        self.errpath = os.path.join(self.tmp, "stderr")
        self._err = open(self.errpath, "wb")
        t0 = time.monotonic()
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._err)
        r, _, _ = select.select([self.p.stdout], [], [], start_timeout)
        line = self.p.stdout.readline().decode() if r else ""
        self.ready_s = time.monotonic() - t0
        self.first_line = line
        if not line.startswith("listening on https://"):
            self.stop()
            raise RuntimeError("emulator did not start: %r\n%s" % (line, self.stderr()))
        self.url = line.split()[-1]
        self.port = int(self.url.rsplit(":", 1)[1])
        self.ca = os.path.join(self.tls_dir, "ca.pem")
        self.ctx = ssl.create_default_context(cafile=self.ca)

    def stderr(self):
        try:
            with open(self.errpath, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def conn(self, timeout=30, host=None):
        return http.client.HTTPSConnection(host or self.host, self.port, context=self.ctx,
                                           timeout=timeout)

    def request(self, method, path, body=None, token=True, conn=None, timeout=30, headers=None):
        """-> (HTTPResponse with .data)"""
        own = conn is None
        c = conn or self.conn(timeout)
        h = {}
        if token is True:
            token = self.token
        if token:
            h["Authorization"] = "Bearer " + token
        if body is not None:
            if not isinstance(body, (bytes, bytearray)):
                body = json.dumps(body).encode("utf-8")
            h["Content-type"] = "application/json"
        h.update(headers or {})
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            r.data = r.read()
        finally:
            if own:
                c.close()
        return r

    def query(self, cypher, dataset="cns", **kw):
        return self.request("POST", "/api/custom/custom", {"cypher": cypher, "dataset": dataset}, **kw)

    def admin(self, method, path, body=None):
        r = self.request(method, path, body, token=None)
        return r.status, json.loads(r.data)

    def config(self, **kw):
        st, d = self.admin("POST", "/emu/config", kw)
        if st != 200:
            raise RuntimeError("config %r -> %d %r" % (kw, st, d))
        return d

    def stats(self):
        return self.admin("GET", "/emu/stats")[1]

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        if self.p.stdout:
            self.p.stdout.close()
        self._err.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def local_non_loopback_ipv4():
    """An IPv4 address of this machine that is not loopback, or None."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 9))          # no packet is sent for UDP connect
        ip = s.getsockname()[0]
    except OSError:
        return None
    finally:
        s.close()
    return None if ip.startswith("127.") or ip == "0.0.0.0" else ip
