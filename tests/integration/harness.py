"""Shared pieces of the integration tests: the emulator, a site, a run.

Every test starts its own emulator on a free loopback port with a private
CA in a temporary directory, so tests never share state.
"""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EMU = os.path.join(ROOT, "tests", "neuprint-emu", "neuprint-emu")
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else "python3"
BUILD = os.environ.get("QP_BUILD_DIR", os.path.join(ROOT, "build"))
QUICKPAGED = os.environ.get("QUICKPAGED", os.path.join(BUILD, "daemon", "quickpaged"))
# Every token a test uses holds TOKEN_MARK, so the token scan
# (assert_no_token: at each daemon's stop over its process, logs, job
# store, cache and replies; after each --run over its output) recognises
# any of them wherever it turns up.
TOKEN_MARK = "5ecr3t"
TOKEN = "test-token-" + TOKEN_MARK


def assert_no_token(paths=(), texts=()):
    """No TOKEN_MARK in the files PATHS (missing ones skipped) or TEXTS."""
    mark = TOKEN_MARK.encode()
    for p in paths:
        try:
            with open(p, "rb") as f:
                data = f.read()
        except (FileNotFoundError, ProcessLookupError, NotADirectoryError):
            continue
        if mark in data:
            i = data.index(mark)
            # the context before it only: this message lands in logs too
            raise AssertionError("a test token leaked into %s: ...%r<TOKEN>" %
                                 (p, data[max(0, i - 60):i]))
    for t in texts:
        if isinstance(t, str):
            t = t.encode()
        if t and mark in t:
            i = t.index(mark)
            raise AssertionError("a test token leaked into a reply or output: "
                                 "...%r<TOKEN>" % t[max(0, i - 60):i])


def data_flags(scale="tiny", seed=1, types_file=None, mutate=None):
    flags = ["--scale", scale, "--seed", str(seed)]
    if types_file:
        flags += ["--types-file", types_file]
    if mutate:
        flags += ["--mutate-frac", str(mutate)]
    return flags


# The emulator imitates neuPrintHTTP 1.9.2 with DatasetGateway auth by
# default, and so do the product's tests; labs may still run 1.7, so some
# tests pass server=SERVER_1_7.
SERVER_1_7 = ("--server-version", "1.7.2")
SERVER_1_9 = ()


class Emulator:
    """neuprint-emu serve, as a context manager."""

    def __init__(self, workdir, scale="tiny", seed=1, extra=(), types_file=None,
                 dataset="cns", token=TOKEN, server=SERVER_1_9):
        self.tls = os.path.join(workdir, "tls")
        self.token = token
        self.dataset = dataset
        cmd = [PYTHON, EMU, "serve", "--token", token, "--dataset", dataset,
               "--tls-dir", self.tls, "--port", "0"] + list(server)
        cmd += data_flags(scale, seed, types_file) + list(extra)
        self.log = open(os.path.join(workdir, "emu.log"), "w")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log,
                                     text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("listening on "):
            self.stop()
            raise RuntimeError("emulator did not start: %r (see %s/emu.log)" % (line, workdir))
        self.url = line.split()[-1]
        self.ca = os.path.join(self.tls, "ca.pem")

    def admin(self, path, body=None):
        """GET or POST a loopback admin route (/emu/stats, /emu/config)."""
        import http.client
        import ssl
        ctx = ssl.create_default_context(cafile=self.ca)
        host, port = self.url[len("https://"):].rsplit(":", 1)
        c = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=30)
        if body is None:
            c.request("GET", path)
        else:
            c.request("POST", path, body=json.dumps(body),
                      headers={"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        c.close()
        return json.loads(data)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def make_pages(out, scale="tiny", seed=1, types_file=None, layout="quickpage"):
    os.makedirs(out, exist_ok=True)
    subprocess.run([PYTHON, EMU, "pages", "--out", out, "--layout", layout, "--dataset", "cns"]
                   + data_flags(scale, seed, types_file),
                   check=True, stdout=subprocess.DEVNULL)


def oracle(pages, scale="tiny", seed=1, types_file=None, dataset="cns", layout="quickpage",
           rules=None, threshold=None):
    extra = ["--layout", layout]
    if rules:
        extra += ["--rules", rules]
    if threshold is not None:
        extra += ["--roi-threshold-pct", repr(threshold)]
    out = subprocess.run([PYTHON, EMU, "oracle", "--pages", pages, "--dataset", dataset]
                         + extra + data_flags(scale, seed, types_file),
                         check=True, stdout=subprocess.PIPE)
    return json.loads(out.stdout)


def write_config(path, server, out, ca=None, token=TOKEN, dataset="cns", extra="",
                 template_dir=None):
    """A site config; no template_dir (the built-in set) unless given."""
    with open(path, "w", encoding="utf-8") as f:
        f.write("neuprint:\n  server: %s\n  dataset: %s\n" % (server, dataset))
        if token is not None:
            f.write("  token: %s\n" % token)
        f.write("output:\n  directory: %s\n" % out)
        f.write("html:\n  title_prefix: Test\n")
        f.write("quickpaged:\n")
        if ca:
            f.write("  ca_file: %s\n" % ca)
        if template_dir:
            f.write("  template_dir: %s\n" % template_dir)
        f.write(extra)
    return path


def run(config, *args, timeout=600, env=None):
    """Run quickpaged --run create-index; returns CompletedProcess (text)."""
    e = dict(os.environ)
    e.pop("NEUPRINT_APPLICATION_CREDENTIALS", None)
    e.pop("NEUPRINT_TOKEN", None)
    # The default cache (no quickpaged.cache_dir) beside the config, not
    # in the user's ~/.cache.
    e["XDG_CACHE_HOME"] = os.path.join(os.path.dirname(os.path.abspath(config)),
                                       "xdg-cache")
    if env:
        e.update(env)
    r = subprocess.run([QUICKPAGED, "--run", "create-index", "--config", config]
                       + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=timeout, env=e)
    # The token scan: a token in what --run printed fails the test.
    assert_no_token(texts=(r.stdout, r.stderr))
    return r


def load_types(out):
    with open(os.path.join(out, "types.json"), encoding="utf-8") as f:
        return json.load(f)


def assert_same_index(test, got, want, tol=1e-9):
    """types.json against the oracle: everything but generated_at, floats to tol."""
    got = dict(got)
    want = dict(want)
    got.pop("generated_at", None)
    want.pop("generated_at", None)
    test.assertEqual(sorted(got.keys()), sorted(want.keys()))
    for k in ("version", "layout", "rules", "dataset", "failed"):
        test.assertEqual(got.get(k), want.get(k), k)
    test.assertEqual(got["dataset_version"], want["dataset_version"])
    test.assertEqual(got.get("unmatched"), want.get("unmatched"))
    gn = [t["name"] for t in got["types"]]
    wn = [t["name"] for t in want["types"]]
    test.assertEqual(gn, wn, "type lists differ")
    for g, w in zip(got["types"], want["types"]):
        _same(test, g, w, tol, g["name"])


def _same(test, g, w, tol, where):
    if isinstance(w, float) or isinstance(g, float):
        test.assertAlmostEqual(float(g), float(w), delta=tol, msg=where)
    elif isinstance(w, dict):
        test.assertEqual(sorted(g.keys()), sorted(w.keys()), where)
        for k in w:
            _same(test, g[k], w[k], tol, "%s.%s" % (where, k))
    elif isinstance(w, list):
        test.assertEqual(len(g), len(w), where)
        for i, (a, b) in enumerate(zip(g, w)):
            _same(test, a, b, tol, "%s[%d]" % (where, i))
    else:
        test.assertEqual(g, w, where)


def tree_digest(d):
    """Names and contents of every file under d (to prove nothing changed)."""
    out = hashlib.sha256()
    for root, dirs, files in sorted(os.walk(d)):
        dirs.sort()
        for f in sorted(files):
            p = os.path.join(root, f)
            out.update(os.path.relpath(p, d).encode())
            with open(p, "rb") as fh:
                out.update(fh.read())
    return out.hexdigest()


def previous_index(out):
    """Leave a previous index in OUT, as a nightly run would have; returns
    tree_digest(OUT) to check later that a failed run left it alone."""
    for name in ("index.html", "types.json"):
        with open(os.path.join(out, name), "w") as f:
            f.write("previous " + name)
    return tree_digest(out)


class Workdir:
    def __init__(self, prefix="qp-it-"):
        self.path = tempfile.mkdtemp(prefix=prefix)

    def __enter__(self):
        return self.path

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)
