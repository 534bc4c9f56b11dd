"""qpctl's bash completion (client/qpctl.bash, issue 18) driven the way bash
drives it: COMP_WORDS and COMP_CWORD set, _qpctl called, COMPREPLY read;
against a running daemon for the site names and job ids it asks for.

The daemon holds its one running job in the render (test hook
QP_TEST_RENDER_DELAY_MS), so the job states are certain while the test
runs: job 1 running, job 2 cancelled (finished), job 3 queued behind it
(max_parallel_jobs: 1).
"""
import os
import shutil
import subprocess
import tempfile
import unittest

import cli_facts as cf
import daemon_harness as dh
import harness

SCRIPT = os.path.join(cf.ROOT, "client", "qpctl.bash")
SITES = ("cns", "cns-left", "fib")


class TestCompletion(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.work = os.path.realpath(tempfile.mkdtemp(prefix="qp-compl-"))
        sites = {}
        for s in SITES:
            out = os.path.join(cls.work, "out-" + s)
            harness.make_pages(out)
            sites[s] = harness.write_config(os.path.join(cls.work, s + ".yaml"),
                                            "https://127.0.0.1:9", out)
        cls.settings = dh.write_settings(os.path.join(cls.work, "quickpaged.yaml"),
                                         cls.work, sites,
                                         extra={"max_parallel_jobs": 1})
        cls.d = dh.Daemon(cls.settings, cls.work,
                          env={"QP_TEST_RENDER_DELAY_MS": "60000"}).start()
        try:
            cls.submit("cns")
            cls.d.wait_job(1, lambda j: j["state"] == "running")
            cls.submit("fib")
            r = cls.d.qpctl("cancel", "2")
            assert r.returncode == 0, r.stderr
            cls.d.wait_job(2, lambda j: j["state"] == "cancelled")
            cls.submit("cns-left")
            assert cls.d.job(3)["state"] == "queued"
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def submit(cls, site):
        r = cls.d.qpctl("submit", "create-index", site, "--quick")
        assert r.returncode == 0, r.stderr

    @classmethod
    def tearDownClass(cls):
        # The held render would make SIGTERM wait for it: kill.
        cls.d.kill9()
        shutil.rmtree(cls.work, ignore_errors=True)

    def complete(self, *words, socket=True, env=None):
        """COMPREPLY for the command line WORDS (the last one being
        completed), as a set; the completion's stderr must stay empty."""
        prog = ('source "$1"; shift; COMP_WORDS=("$@"); '
                'COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); '
                'COMP_LINE="${COMP_WORDS[*]}"; COMP_POINT=${#COMP_LINE}; '
                '[[ $(complete -p qpctl) == "complete -F _qpctl qpctl" ]] || exit 9; '
                '_qpctl || exit 8; printf "%s\\n" "${COMPREPLY[@]}"')
        e = dict(os.environ, PATH=os.path.dirname(dh.QPCTL) + ":" + os.environ["PATH"])
        e.pop("QUICKPAGED_SOCKET", None)
        if socket:
            e["QUICKPAGED_SOCKET"] = self.d.socket
        e.update(env or {})
        r = subprocess.run(["bash", "--norc", "--noprofile", "-c", prog, "bash", SCRIPT,
                            "qpctl"] + list(words), capture_output=True, text=True,
                           env=e, timeout=30)
        self.assertEqual(r.returncode, 0, "completion of %r: %s" % (words, r.stderr))
        self.assertEqual(r.stderr, "", "completion of %r wrote to stderr" % (words,))
        return {w for w in r.stdout.split("\n") if w}

    def test_commands(self):
        self.assertEqual(self.complete(""), cf.qpctl_commands())
        self.assertEqual(self.complete("ca"), {"cache", "cancel"})
        self.assertEqual(self.complete("--json", "st"), {"status", "stats"})

    def test_global_options(self):
        want = {o for o in cf.getopt_options("client/qpctl.c") if o.startswith("--")}
        self.assertEqual(self.complete("--"), want)

    def test_submit(self):
        self.assertEqual(self.complete("submit", ""), {"create-index", "create-list"})
        want = {w for _, _, ws in cf.documented("qpctl.1", ["SUBMIT OPTIONS"])
                for w in ws if w.startswith("--")}
        self.assertEqual(self.complete("submit", "create-index", "--"), want)
        self.assertEqual(self.complete("submit", "--"), want)

    def test_sites_from_the_daemon(self):
        self.assertEqual(self.complete("submit", "create-index", ""), set(SITES))
        self.assertEqual(self.complete("submit", "create-index", "cn"), {"cns", "cns-left"})
        self.assertEqual(self.complete("submit", "--quick", "create-index", "f"), {"fib"})
        self.assertEqual(self.complete("cache", "clear", ""), set(SITES))
        self.assertEqual(self.complete("cache", ""), {"stats", "clear"})
        # one site per job; none where --config names a file instead
        self.assertEqual(self.complete("submit", "create-index", "fib", ""), set())
        self.assertEqual(self.complete("submit", "create-index", "--config", "x.yaml", ""),
                         set())
        self.assertEqual(self.complete("submit", "create-list", "-c", "x.yaml", ""), set())
        self.assertEqual(self.complete("submit", "create-list", "--output-dir", "o", ""),
                         set(SITES))

    def test_socket_on_the_command_line(self):
        self.assertEqual(self.complete("--socket", self.d.socket, "submit", "create-index",
                                       "", socket=False), set(SITES))
        self.assertEqual(self.complete("--socket=" + self.d.socket, "cancel", "",
                                       socket=False), {"1", "3"})
        # the option wins over the environment
        self.assertEqual(self.complete("--socket", self.d.socket, "status", "",
                                       env={"QUICKPAGED_SOCKET": "/nonexistent"}),
                         {"1", "2", "3"})

    def test_job_ids(self):
        self.assertEqual(self.complete("status", ""), {"1", "2", "3"})
        self.assertEqual(self.complete("watch", ""), {"1", "2", "3"})
        # only queued and running jobs can be cancelled
        self.assertEqual(self.complete("cancel", ""), {"1", "3"})
        self.assertEqual(self.complete("status", "3", ""), set())
        self.assertEqual(self.complete("list", ""), set())

    def test_no_daemon(self):
        """Nothing to offer, and no error on the terminal."""
        for words in (("status", ""), ("submit", "create-index", "")):
            self.assertEqual(self.complete(*words, socket=False,
                                           env={"QUICKPAGED_SOCKET": "/nonexistent"}),
                             set())


if __name__ == "__main__":
    unittest.main()
