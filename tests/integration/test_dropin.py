"""A drop-in for labs as they work today (issue 24): a neuView checkout's
own config and commands, relative paths as QuickPage and neuView resolve
them (against the command's working directory), create-list with
neuView's spellings, through --run and through the daemon; and stray
page spellings that name a type twice.
"""
import json
import os
import shutil
import signal
import subprocess
import time
import unittest

import harness as h
import daemon_harness as dh

# neuView's config/config.cns.yaml as its checkout has it (reiserlab/neuView
# 2ae6997), pointed at the emulator: no token (neuView reads NEUPRINT_TOKEN),
# a server without a scheme, a relative output directory; plus the private
# CA the tests need, relative too.
NEUVIEW_CONFIG = """# neuView Configuration
neuprint:
  server: "%(server)s"
  dataset: "cns"

output:
  directory: "%(out)s"

neuroglancer:
  base_url: "https://neuroglancer-demo.appspot.com/"
  template: "neuroglancer-cns.js.jinja"

discovery:
  max_types: 10
  type_filter: ""
  exclude_types: []
  include_only: []
  randomize: true

html:
  title_prefix: "Male CNS"

subsets:
  subset-small:
    - "SAD103"

quickpaged:
  ca_file: config/ca.pem
"""


def checkout(work, emu, out="output", token=None):
    """A copy of a neuView checkout: config/config.cns.yaml and pages in
    output/types/ (the neuview layout), as `neuview generate` leaves them."""
    root = os.path.join(work, "neuView")
    os.makedirs(os.path.join(root, "config"))
    shutil.copy(emu.ca, os.path.join(root, "config", "ca.pem"))
    text = NEUVIEW_CONFIG % {"server": emu.url[len("https://"):], "out": out}
    if token:
        text = text.replace('  dataset: "cns"\n', '  dataset: "cns"\n  token: "%s"\n' % token)
    with open(os.path.join(root, "config", "config.cns.yaml"), "w") as f:
        f.write(text)
    h.make_pages(os.path.join(root, "output"), layout="neuview")
    return root


def run_in(cwd, *args, env=None):
    """quickpaged ARGS run from CWD, the token in its environment as
    neuView users have it."""
    e = dict(os.environ)
    e.pop("NEUPRINT_APPLICATION_CREDENTIALS", None)
    e["NEUPRINT_TOKEN"] = h.TOKEN
    e["XDG_CACHE_HOME"] = os.path.join(cwd, ".xdg-cache")
    for k, v in (env or {}).items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = v
    r = subprocess.run([h.QUICKPAGED] + list(args), cwd=cwd, env=e,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=300)
    h.assert_no_token(texts=(r.stdout, r.stderr))
    return r


class TestRunCreateList(unittest.TestCase):
    """quickpaged --run create-list -c config/config.cns.yaml from the root."""

    def setUp(self):
        self.work = h.Workdir().path
        self.emu = h.Emulator(self.work)
        self.root = checkout(self.work, self.emu)
        self.out = os.path.join(self.root, "output")

    def tearDown(self):
        self.emu.stop()
        shutil.rmtree(self.work, ignore_errors=True)

    def check_index(self, out):
        want = h.oracle(out, layout="neuview")
        h.assert_same_index(self, h.load_types(out), want)
        for f in ("index.html", "types.html", "data/neurons.json",
                  "static/js/neuron-search.js"):
            self.assertTrue(os.path.isfile(os.path.join(out, f)), f)

    def test_stock_config_from_checkout_root(self):
        r = run_in(self.root, "--run", "create-list", "-c", "config/config.cns.yaml")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip().splitlines()[-1],
                         os.path.join(self.out, "index.html"))
        self.assertTrue(r.stdout.startswith("create-list cns: "), r.stdout)
        self.check_index(self.out)
        # Not beside the config, where the old rule put it.
        self.assertFalse(os.path.exists(os.path.join(self.root, "config", "output")))

    def test_neuview_order_and_minify(self):
        """neuView's -c before the command, and --minify/--no-minify, are taken."""
        for extra in (["--minify"], ["--no-minify"]):
            r = run_in(self.root, "-c", "config/config.cns.yaml", "--run",
                       "create-list", *extra)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.check_index(self.out)

    def test_config_yaml_by_default(self):
        """Without -c, ./config.yaml, as `neuview create-list` reads it."""
        shutil.copy(os.path.join(self.root, "config", "config.cns.yaml"),
                    os.path.join(self.root, "config.yaml"))
        r = run_in(self.root, "--run", "create-list")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.check_index(self.out)
        os.unlink(os.path.join(self.root, "config.yaml"))
        r = run_in(self.root, "--run", "create-list")
        self.assertEqual(r.returncode, 2)
        self.assertIn("config.yaml: No such file or directory", r.stderr)

    def test_output_dir(self):
        """--output-dir replaces output.directory, relative to the cwd."""
        other = os.path.join(self.root, "site2")
        h.make_pages(other, layout="neuview")
        r = run_in(self.root, "--run", "create-list", "-c", "config/config.cns.yaml",
                   "--output-dir", "site2")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip().splitlines()[-1],
                         os.path.join(other, "index.html"))
        self.check_index(other)
        self.assertFalse(os.path.exists(os.path.join(self.out, "types.json")))

    def test_from_elsewhere_names_the_resolved_path(self):
        """Run from another directory, relative paths resolve there, and a
        message names the path as resolved. (One fault at a time: META and
        the scan run at once, so either may be the one reported.)"""
        elsewhere = os.path.join(self.work, "elsewhere")
        os.makedirs(os.path.join(elsewhere, "config"))
        shutil.copy(self.emu.ca, os.path.join(elsewhere, "config", "ca.pem"))
        cfg = os.path.join(self.root, "config", "config.cns.yaml")
        r = run_in(elsewhere, "--run", "create-list", "-c", cfg)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertIn(os.path.join(elsewhere, "output") + ":", r.stderr)
        h.make_pages(os.path.join(elsewhere, "output"), layout="neuview")
        os.unlink(os.path.join(elsewhere, "config", "ca.pem"))
        r = run_in(elsewhere, "--run", "create-list", "-c", cfg)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertIn(os.path.join(elsewhere, "config", "ca.pem"), r.stderr)

    def test_token_from_dotenv(self):
        """neuView's ./.env holds the token (python-dotenv); the environment
        wins over it, as with neuView."""
        with open(os.path.join(self.root, ".env"), "w") as f:
            f.write("# neuView\nexport NEUPRINT_TOKEN='%s'\n" % h.TOKEN)
        r = run_in(self.root, "--run", "create-list", "-c", "config/config.cns.yaml",
                   env={"NEUPRINT_TOKEN": None})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.check_index(self.out)
        r = run_in(self.root, "--run", "create-list", "-c", "config/config.cns.yaml",
                   env={"NEUPRINT_TOKEN": "wrong-" + h.TOKEN_MARK})
        self.assertEqual(r.returncode, 1)
        self.assertIn("401", r.stderr)

    def test_create_index_is_the_same_job(self):
        r = run_in(self.root, "--run", "create-index", "--config",
                   "config/config.cns.yaml")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.check_index(self.out)
        r = run_in(self.root, "--run", "create-lists", "-c", "config/config.cns.yaml")
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown job 'create-lists'", r.stderr)


class TestDaemonCreateList(unittest.TestCase):
    """qpctl submit create-list -c config/config.cns.yaml --wait from the root."""

    def setUp(self):
        self.work = h.Workdir().path
        self.emu = h.Emulator(self.work, extra=("--latency-ms", "40"))
        self.root = checkout(self.work, self.emu)
        self.out = os.path.join(self.root, "output")
        # One job at a time: a second waits, queued (the resume test).
        settings = dh.write_settings(os.path.join(self.work, "quickpaged.yaml"),
                                     self.work, {}, extra={"max_parallel_jobs": 1})
        # The daemon's own token must never serve a client's config.
        self.d = dh.Daemon(settings, self.work,
                           env={"NEUPRINT_TOKEN": "daemon-own-" + h.TOKEN_MARK})
        self.d.start()

    def tearDown(self):
        try:
            self.d.stop_clean()
        finally:
            self.emu.stop()
            shutil.rmtree(self.work, ignore_errors=True)

    def qpctl(self, *args, token=h.TOKEN):
        e = dict(os.environ)
        e.pop("NEUPRINT_APPLICATION_CREDENTIALS", None)
        e.pop("NEUPRINT_TOKEN", None)
        if token:
            e["NEUPRINT_TOKEN"] = token
        r = subprocess.run([dh.QPCTL, "--socket", self.d.socket] + list(args),
                           cwd=self.root, env=e, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=300)
        self.d.replies += [r.stdout, r.stderr]
        return r

    def test_stock_config_with_wait(self):
        r = self.qpctl("submit", "create-list", "-c", "config/config.cns.yaml", "--wait")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        h.assert_same_index(self, h.load_types(self.out),
                            h.oracle(self.out, layout="neuview"))
        self.assertFalse(os.path.exists(os.path.join(self.root, "config", "output")))
        jobs = json.loads(self.qpctl("--json", "list").stdout)["jobs"]
        self.assertEqual(jobs[0]["output_dir"], self.out)

    def test_output_dir(self):
        h.make_pages(os.path.join(self.root, "site2"), layout="neuview")
        r = self.qpctl("submit", "create-list", "--config=config/config.cns.yaml",
                       "--output-dir", "site2", "--no-minify", "--wait")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        other = os.path.join(self.root, "site2")
        h.assert_same_index(self, h.load_types(other), h.oracle(other, layout="neuview"))
        self.assertFalse(os.path.exists(os.path.join(self.out, "types.json")))

    def test_token_from_dotenv(self):
        with open(os.path.join(self.root, ".env"), "w") as f:
            f.write("NEUPRINT_TOKEN=%s\n" % h.TOKEN)
        r = self.qpctl("submit", "create-list", "-c", "config/config.cns.yaml", "--wait",
                       token=None)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        h.assert_same_index(self, h.load_types(self.out),
                            h.oracle(self.out, layout="neuview"))

    def test_no_token_anywhere(self):
        """Neither the config nor qpctl's environment holds a token: refused,
        though the daemon has one of its own."""
        r = self.qpctl("submit", "create-list", "-c", "config/config.cns.yaml",
                       "--wait", token=None)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("no token", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.out, "types.json")))

    def test_relative_path_outside_roots_names_it_resolved(self):
        with open(os.path.join(self.root, "config", "far.yaml"), "w") as f:
            f.write(NEUVIEW_CONFIG % {"server": self.emu.url[len("https://"):],
                                      "out": "../../../outside"})
        r = self.qpctl("submit", "create-list", "-c", "config/far.yaml", "--wait")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn(os.path.join(self.root, "../../../outside"), r.stderr)

    def test_named_site_takes_no_output_dir(self):
        r = self.qpctl("submit", "create-list", "cns", "--output-dir", "x")
        self.assertNotEqual(r.returncode, 0)

    def test_named_site_with_relative_path_refused(self):
        """A site named in the settings has no command and so no working
        directory: its relative path is refused, in the log at the start
        and in the reply, naming the key and the path."""
        self.d.stop_clean()
        cfg = os.path.join(self.root, "config", "config.cns.yaml")
        settings = dh.write_settings(os.path.join(self.work, "q2.yaml"), self.work,
                                     {"cns": cfg})
        self.d = dh.Daemon(settings, self.work)
        self.d.start()
        r = self.qpctl("submit", "create-list", "cns", "--wait")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("key 'output.directory': 'output' is relative, and a site named "
                      "in the daemon's settings", r.stderr)
        log = self.d.log_text()
        self.assertIn("event=site.unusable site=cns", log)
        self.assertIn("'output' is relative", log)

    def test_resumes_after_kill9_with_its_cwd(self):
        """A queued job of a client's config with relative paths runs after
        kill -9 exactly as first resolved; one whose token came from qpctl's
        environment (never stored) fails saying so."""
        h.make_pages(os.path.join(self.root, "site2"), layout="neuview")
        self.emu.admin("/emu/config", {"latency_ms": 1500})
        ids = []
        for extra in (["--output-dir", "site2"], ["--quick"]):
            r = self.qpctl("--json", "submit", "create-list", "-c",
                           "config/config.cns.yaml", *extra)
            self.assertEqual(r.returncode, 0, r.stderr)
            ids.append(json.loads(r.stdout.splitlines()[0])["job"]["job_id"])
        self.d.wait_job(ids[0], lambda j: j["stage"] == "fetch", timeout=60)
        self.assertEqual(self.d.job(ids[1])["state"], "queued")
        self.d.kill9()
        self.emu.admin("/emu/config", {"latency_ms": 40})
        self.d.start()
        ends = [self.d.wait_job(i, lambda j: j["state"] not in ("queued", "running"),
                                timeout=120) for i in ids]
        self.assertEqual(ends[0]["state"], "failed", ends[0])
        self.assertIn("keeps no client's token", ends[0]["error"])
        self.assertEqual(ends[1]["state"], "succeeded", ends[1])
        got = h.load_types(self.out)
        self.assertEqual(got["layout"], "neuview")
        self.assertEqual(len(got["types"]), len(h.oracle(self.out, layout="neuview")["types"]))


def types_file(work, names):
    tf = os.path.join(work, "types.txt")
    with open(tf, "w", encoding="utf-8") as f:
        f.write("\n".join(names) + "\n")
    return tf


# A few ordinary types beside the ones under test (the emulator spreads
# its neurons over the names given).
ORDINARY = ["LC10a", "T4a", "KCab", "SAD103", "Tm3", "DNp01"]


class TestDuplicateSpellings(unittest.TestCase):
    """"X Y.html" beside "X_Y.html": one type, or two; counts never doubled."""

    def site(self, names, stray, layout="quickpage"):
        work = self.work
        tf = types_file(work, names)
        out = os.path.join(work, "site-" + layout)
        h.make_pages(out, types_file=tf, layout=layout)
        pages = os.path.join(out, "types") if layout == "neuview" else out
        for new, like in stray:
            shutil.copy(os.path.join(pages, like), os.path.join(pages, new))
        return tf, out

    def setUp(self):
        self.work = h.Workdir().path

    def tearDown(self):
        shutil.rmtree(self.work, ignore_errors=True)

    def index(self, tf, out, layout, *args):
        with h.Emulator(self.work, types_file=tf) as emu:
            cfg = h.write_config(os.path.join(self.work, "c-%s.yaml" % layout),
                                 emu.url, out, ca=emu.ca)
            r = h.run(cfg, "--no-cache", *args)
        self.assertEqual(r.returncode, 0, r.stderr)
        got = h.load_types(out)
        h.assert_same_index(self, got, h.oracle(out, types_file=tf, layout=layout))
        return got, r

    def by_name(self, got, name):
        e = [t for t in got["types"] if t["name"] == name]
        self.assertEqual(len(e), 1, "%s listed %d times" % (name, len(e)))
        return e[0]

    def test_one_type_two_pages(self):
        for layout in ("quickpage", "neuview"):
            tf, out = self.site(ORDINARY + ["Acc. tr flexor MN_a"],
                                [("Acc. tr flexor MN_a.html", "Acc._tr_flexor_MN_a.html")],
                                layout)
            for args in ((), ("--strategy", "per-type")):
                got, r = self.index(tf, out, layout, *args)
                t = self.by_name(got, "Acc. tr flexor MN_a")
                prefix = "types/" if layout == "neuview" else ""
                # The file rule's spelling is linked; the stray is reported.
                self.assertEqual(t["urls"]["combined"],
                                 prefix + "Acc._tr_flexor_MN_a.html")
                self.assertIn("warning: page %sAcc. tr flexor MN_a.html" % prefix,
                              r.stdout)
                self.assertGreater(t["counts"]["total"], 0)

    def test_two_types(self):
        for layout in ("quickpage", "neuview"):
            tf, out = self.site(ORDINARY + ["X Y", "X_Y"], [("X Y.html", "X_Y.html")],
                                layout)
            got, r = self.index(tf, out, layout)
            a, b = self.by_name(got, "X Y"), self.by_name(got, "X_Y")
            prefix = "types/" if layout == "neuview" else ""
            self.assertEqual(a["urls"]["combined"], prefix + "X Y.html")
            self.assertEqual(b["urls"]["combined"], prefix + "X_Y.html")
            self.assertNotIn("warning: page", r.stdout)

    def test_same_in_one_batch_or_many(self):
        """The same answer whatever the batching: each stem sees the type's
        rows once, in one query or in two."""
        tf, out = self.site(ORDINARY + ["X Y"], [("X Y.html", "X_Y.html")])
        one, _ = self.index(tf, out, "quickpage")
        with h.Emulator(self.work, types_file=tf) as emu:
            cfg = h.write_config(os.path.join(self.work, "c1.yaml"), emu.url, out,
                                 ca=emu.ca, extra="  batch_size: 1\n")
            r = h.run(cfg, "--no-cache")
        self.assertEqual(r.returncode, 0, r.stderr)
        many = h.load_types(out)
        self.assertEqual(self.by_name(one, "X Y"), self.by_name(many, "X Y"))


if __name__ == "__main__":
    unittest.main()
