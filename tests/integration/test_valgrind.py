"""quickpaged under valgrind: no memory errors, nothing left allocated.

Valgrind cannot run the ASan build, so tools/test builds an unsanitized
tree as well and names its binary in QP_VALGRIND_BIN; without it this test
is skipped (SKIP, and a failure under CI: tests/pyunit). Without valgrind
it fails: tools/deps installs it.
"""
import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

BIN = os.environ.get("QP_VALGRIND_BIN")


class TestValgrind(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not BIN:
            raise unittest.SkipTest("QP_VALGRIND_BIN is not set (tools/test "
                                    "builds build-vg/ and sets it)")
        if shutil.which("valgrind") is None:
            raise AssertionError("valgrind not installed (Debian package "
                                 "valgrind; tools/deps installs it)")

    def grind(self, cfg, *args, env=None):
        log = cfg + ".vg"
        e = dict(os.environ)
        e.update(env or {})
        r = subprocess.run(["valgrind", "--leak-check=full", "--show-leak-kinds=all",
                            "--errors-for-leak-kinds=all", "--error-exitcode=99",
                            "--log-file=" + log, BIN, "--run", "create-index",
                            "--config", cfg] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=600, env=e)
        with open(log) as f:
            report = f.read()
        self.assertNotEqual(r.returncode, 99, report[-3000:])
        self.assertIn("ERROR SUMMARY: 0 errors", report)
        self.assertIn("in use at exit: 0 bytes", report)
        return r

    def test_jobs(self):
        with h.Workdir() as work, h.Emulator(work, "tiny") as emu:
            out = os.path.join(work, "site")
            h.make_pages(out, "tiny")
            cfg = h.write_config(os.path.join(work, "site.yaml"), emu.url, out, emu.ca,
                                 extra="  cache_dir: %s/cache\n" % work)
            # cold (fills the cache), warm (served by it), then uncached paths
            for args in ((), (), ("--strategy", "per-type"), ("--quick",)):
                self.assertEqual(self.grind(cfg, *args).returncode, 0)
            # A failure path too: the token refused.
            bad = h.write_config(os.path.join(work, "bad.yaml"), emu.url, out, emu.ca,
                                 token="wrong-" + h.TOKEN)
            self.assertEqual(self.grind(bad).returncode, 1)

    def test_proxy(self):
        """Through tinyproxy (test_proxy.py's), past no_proxy, and refused."""
        import test_proxy as tp
        with h.Workdir() as work, h.Emulator(work, "tiny") as emu:
            out = os.path.join(work, "site")
            h.make_pages(out, "tiny")
            cfg = h.write_config(os.path.join(work, "site.yaml"), emu.url, out, emu.ca,
                                 extra="  cache_dir: %s/cache\n  max_retries: 1\n" % work)
            proxy = tp.Tinyproxy(work, "auth", auth=True)
            try:
                good = "http://%s:%s@127.0.0.1:%d" % (tp.PROXY_USER, tp.PROXY_PASSWORD,
                                                      proxy.port)
                r = self.grind(cfg, env=tp.proxy_env(https_proxy=good,
                                                     no_proxy="neuprint.example.org"))
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(set(proxy.connects()), {emu.url[len("https://"):]})
                r = self.grind(cfg, env=tp.proxy_env(https_proxy=proxy.url))
                self.assertEqual(r.returncode, 1, r.stderr)
                self.assertIn("407 Proxy Authentication Required", r.stderr)
                r = self.grind(cfg, env=tp.proxy_env(https_proxy="ftp://proxy:21"))
                self.assertEqual(r.returncode, 2, r.stderr)
            finally:
                proxy.stop()


if __name__ == "__main__":
    unittest.main()
