"""create-index against neuPrintHTTP 1.9.2 with DatasetGateway auth (the
emulator's default), and against 1.7.2: how the product reads each error
shape (issue 13; docs/queries.md, "Errors").

Every run that completes is compared with the emulator's oracle; every run
that fails must fail in one line and leave the previous index alone.
"""
import json
import os
import shutil
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402


def summary(r):
    return json.loads(r.stdout.strip().splitlines()[-1])


class Base(unittest.TestCase):
    scale = "tiny"
    seed = 1
    types_file = None
    maxDiff = None

    def setUp(self):
        self.work = h.Workdir(prefix="qp-np19-").path
        self.out = os.path.join(self.work, "site")
        h.make_pages(self.out, self.scale, self.seed, self.types_file)

    def tearDown(self):
        shutil.rmtree(self.work, ignore_errors=True)

    def emulator(self, *extra, server=h.SERVER_1_9, **kw):
        return h.Emulator(self.work, self.scale, self.seed, extra=list(extra),
                          types_file=self.types_file, server=server, **kw)

    def config(self, emu, extra="", **kw):
        return h.write_config(os.path.join(self.work, "site.yaml"), emu.url,
                              self.out, emu.ca, extra=extra, **kw)

    def complete(self, emu, extra=""):
        """Run to the end; the index must be the oracle's. The summary."""
        r = h.run(self.config(emu, extra), "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        want = h.oracle(self.out, self.scale, self.seed, self.types_file)
        h.assert_same_index(self, h.load_types(self.out), want)
        s = summary(r)
        self.assertEqual(s["failed"], 0, s)
        return s

    def fails(self, emu, needle, extra="", **kw):
        """Run; it must fail in one line holding NEEDLE, index untouched."""
        before = h.previous_index(self.out)
        r = h.run(self.config(emu, extra, **kw), timeout=300)
        self.assertNotEqual(r.returncode, 0)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn(needle, lines[0])
        self.assertNotIn(h.TOKEN, r.stderr + r.stdout)
        self.assertEqual(h.tree_digest(self.out), before)
        return lines[0]


class TestTransient(Base):
    """5 % of the queries answered 400 TransientError or "Timeout
    experienced" (the pool wait): retried, never split, no type failed."""
    scale = "demo"

    def test_transient_and_pool_faults(self):
        with self.emulator("--latency-ms", "20", "--fault-rate", "0.05",
                           "--faults", "transient400,pool400") as emu:
            s = self.complete(emu, "  batch_size: 5\n")
            st = emu.admin("/emu/stats?floor=0")
        print("\n  %d queries, retries %s, splits %d; emulator faults %s"
              % (s["queries"], s["retries_by_cause"], s["splits"], st["faults"]))
        self.assertGreater(st["faults"].get("transient400", 0), 0)
        self.assertGreater(st["faults"].get("pool400", 0), 0)
        self.assertEqual(s["splits"], 0)
        self.assertEqual(s["retries_by_cause"]["transient"],
                         st["faults"]["transient400"])
        self.assertEqual(s["retries_by_cause"]["busy"], st["faults"]["pool400"])


class TestProxyTimeout(Base):
    """A proxy answers 504 after 1.5 s while the query goes on: the batch is
    split, never resent as is, and the emulator never has two identical
    queries on it at once."""

    def test_split_no_identical_overlap(self):
        # tiny: 486 neurons of page types; a ROIS query over all of them is
        # modelled at ~2.4 s, the largest type's (130 neurons) at 0.65 s.
        with self.emulator("--latency-ms", "20", "--row-us", "2000",
                           "--json-us", "3000", "--capacity", "64",
                           "--queue", "64", "--proxy-timeout-s", "1.5") as emu:
            s = self.complete(emu)
            st = emu.admin("/emu/stats?floor=0")
        print("\n  %d queries, %d splits, %d time-outs; emulator: %d proxy "
              "time-outs, peak_identical %d, identical_overlaps %d"
              % (s["queries"], s["splits"], s["timeouts"], st["proxy_timeouts"],
                 st["peak_identical"], st["identical_overlaps"]))
        self.assertGreater(st["proxy_timeouts"], 0)
        self.assertGreater(s["splits"], 0)
        self.assertEqual(s["timeouts"], st["proxy_timeouts"])
        self.assertLessEqual(st["peak_identical"], 1)
        self.assertEqual(st["identical_overlaps"], 0)


class TestMaxBody(Base):
    """A proxy refuses bodies over 64 KiB (413): batches split, and the stem
    whose spellings alone pass it (8 underscores, ~240 KB) is resolved from
    the type list."""

    def test_max_body_64k(self):
        with self.emulator("--latency-ms", "20", "--max-body", "65536") as emu:
            s = self.complete(emu)
            st = emu.admin("/emu/stats?floor=0")
        print("\n  %d queries, %d splits; emulator: %d refused with 413"
              % (s["queries"], s["splits"], st["too_large"]))
        self.assertGreater(st["too_large"], 0)
        self.assertGreater(s["splits"], 0)

    def test_max_query_bytes_keeps_under_the_proxy(self):
        # With the cap below the proxy's limit nothing is refused at all.
        with self.emulator("--latency-ms", "20", "--max-body", "65536") as emu:
            s = self.complete(emu, "  max_query_bytes: 65000\n")
            st = emu.admin("/emu/stats?floor=0")
        self.assertEqual(st["too_large"], 0)
        self.assertEqual(s["splits"], 0)
        self.assertGreater(s["queries"], 3)     # several batches, and TYPES


class TestLabelRewrite(Base):
    """neuPrintHTTP 1.9 rewrites ":Neuron" (and ":Meta", ...) inside string
    literals too; type names holding them must still be found."""

    def setUp(self):
        self.work = h.Workdir(prefix="qp-np19-").path
        self.types_file = os.path.join(self.work, "types.txt")
        with open(self.types_file, "w", encoding="utf-8") as f:
            f.write("LC10a\nPN:Neuron_like\nX:Meta:Segment\nT4a\nAB:`Neuron`\n")
        self.out = os.path.join(self.work, "site")
        h.make_pages(self.out, self.scale, self.seed, self.types_file)

    def test_names_with_labels(self):
        with self.emulator("--latency-ms", "20") as emu:
            self.complete(emu)
        got = {t["name"]: t for t in h.load_types(self.out)["types"]}
        for name in ("PN:Neuron_like", "X:Meta:Segment", "AB:`Neuron`"):
            self.assertGreater(got[name]["counts"]["total"], 0, name)


class TestAuth(Base):
    """DatasetGateway's answers: one clear line each."""

    def test_terms_of_service(self):
        with self.emulator("--tos-required") as emu:
            line = self.fails(emu, "terms of service")
        self.assertIn("https://dsg.neuprint-emu.invalid/tos/", line)

    def test_no_access(self):
        with self.emulator("--noaccess-token", "other-" + h.TOKEN) as emu:
            self.fails(emu, "You do not have access to cns dataset",
                       token="other-" + h.TOKEN)

    def test_unknown_dataset(self):
        with self.emulator() as emu:
            self.fails(emu, "You do not have access to no-such dataset",
                       dataset="no-such")

    def test_bad_token(self):
        with self.emulator() as emu:
            self.fails(emu, "invalid or expired token", token="wrong-" + h.TOKEN)

    def test_auth_service_down(self):
        with self.emulator("--auth-down") as emu:
            line = self.fails(emu, "authentication service (DatasetGateway) "
                              "is unavailable", extra="  max_retries: 2\n")
        self.assertIn("gave up after 3 attempts", line)
        self.assertIn("auth service unavailable", line)


class TestServer17(Base):
    """neuPrintHTTP 1.7.2 (labs may still run it): the same index, and its
    own error shapes."""

    def test_index_and_faults(self):
        with self.emulator("--latency-ms", "20", "--fault-rate", "0.05",
                           "--faults", "transient400,pool400,503",
                           server=h.SERVER_1_7) as emu:
            s = self.complete(emu, "  batch_size: 20\n")
        self.assertEqual(s["splits"], 0)

    def test_unknown_dataset(self):
        with self.emulator(server=h.SERVER_1_7) as emu:
            self.fails(emu, "does not know the dataset", dataset="no-such")

    def test_bad_token(self):
        with self.emulator(server=h.SERVER_1_7) as emu:
            self.fails(emu, "refused access", token="wrong-" + h.TOKEN)


if __name__ == "__main__":
    unittest.main()
