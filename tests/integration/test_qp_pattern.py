"""bench/qp_pattern.py sends what QuickPage 56a65d8 + neuprint-python 0.5.1
send (issue 24): the README's anchor figure rests on it.

qp_pattern_golden.json holds the first requests the real QuickPage sent
against the emulator (how: its "captured"); the replay, fed answers of the
same shape by a fake wire, must send them byte for byte, in order. The
other cases walk the branches the emulator cannot show today (partner
queries answered, upstream/downstream columns, a parent lookup).
"""
import json
import os
import re
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench"))
import qp_pattern as qpp  # noqa: E402

PRIMARY = ["AL(L)", "CX", "FB", "SMP(R)"]
HIERARCHY = {"name": "male-cns", "children": [
    {"name": "CentralBrain", "children": [
        {"name": "AL(L)"}, {"name": "SMP(R)"},
        {"name": "CX", "children": [{"name": "FB"}]}]}]}
ROI_INFO = {r: {"pre": 1, "post": 1} for r in PRIMARY + ["CentralBrain", "AB(L)"]}
# non-ROI :Neuron keys in no particular order, and two ROI flags the
# client must drop (they are in the Meta's roiInfo)
KEYS = ["trumanHl", "synonyms", "superclass", "subclass", "somaSide", "somaNeuromere",
        "rootSide", "flywireType", "dimorphism", "consensusNt", "class",
        "celltypePredictedNtConfidence", "celltypePredictedNt", "roiInfo", "status",
        "post", "pre", "type", "instance", "bodyId", "AB(L)", "CX"]


class FakeWire(qpp.Wire):
    """Answers by kind; records what would go out."""

    def __init__(self, bodies, partners_ok=False, counts=("pre", "post"), rois=None,
                 versions=False, keys=KEYS, primary=PRIMARY, hierarchy=HIERARCHY):
        super().__init__("https://127.0.0.1:1", None, "t", versions)
        self.trace = []
        self.bodies = bodies            # type name -> [bodyId, ...]
        self.partners_ok = partners_ok
        self.keys = keys
        self.primary, self.hierarchy = primary, hierarchy
        self.counts = list(counts)
        self.rois = rois or {"SMP(R)": {c: 50 for c in counts}, "AB(L)": {"pre": 3}}

    def call(self, kind, method, path, body=None, once=False):
        self.trace.append((method, path, body.decode() if body else None))
        self.log.append((kind, 200, 0, 0.0, once))
        if kind == "datasets":
            return {"cns": {"uuid": "u"}}
        if kind == "version":
            return {"Version": "1.9.2"}
        cypher = json.loads(body)["cypher"]
        if kind in ("meta", "hierarchy", "parent"):
            return {"columns": ["meta", "roiInfo", "roiHierarchy", "neuroglancerInfo",
                                "neuroglancerMeta", "statusDefinitions"],
                    "data": [[{"dataset": "male-cns", "primaryRois": self.primary},
                              ROI_INFO, self.hierarchy, {}, [], {}]]}
        if kind == "keys":
            if "neuronProperties" in cypher:
                return {"columns": ["n.neuronProperties"], "data": [[None]]}
            return {"columns": ["neuron_fields"], "data": [[k] for k in self.keys]}
        if kind == "neurons":
            name = re.search(r"n\.type = '([^']*)'", cypher).group(1)
            cols = ["bodyId", "type", "roiInfo"] + self.counts
            rows = [[b, name, json.dumps(self.rois)] + [100] * len(self.counts)
                    for b in self.bodies.get(name, [])]
            return {"columns": cols, "data": rows}
        if kind in ("upstream", "downstream"):
            if not self.partners_ok:
                self.log[-1] = (kind, 400, 0, 0.0, once)
                raise qpp.Refused("400")
            return {"columns": ["partner_type"], "data": []}
        raise AssertionError("unexpected request " + kind)


def kinds(wire):
    return [k for k, _, _, _, once in wire.log if not once]


class Golden(unittest.TestCase):
    """The fake answers take their :Neuron keys (in reverse, plus two ROI
    flags) and count columns from the captured fetch_neurons text, their
    body ids from the captured partner queries."""

    def check(self, path):
        with open(os.path.join(HERE, path)) as f:
            g = json.load(f)
        texts = [json.loads(b)["cypher"] for m, p, b in g["requests"] if b]
        ups = [t for t in texts if "(upstream:Neuron)" in t]
        ids = [json.loads(re.search(r"IN (\[[0-9, ]*\])", u).group(1)) for u in ups]
        self.assertEqual(len(ids), len(g["names"]))
        cols = re.findall(r"n\.(\S+) as \1", next(t for t in texts if "RETURN n.bodyId" in t))
        wire = FakeWire(dict(zip(g["names"], ids)),
                        counts=[c for c in qpp.COUNT_COLS if c in cols],
                        keys=cols[::-1] + ["AB(L)", "CX"])
        qp = qpp.QuickPage(wire, "cns")
        qp.connect()
        for n in g["names"]:
            qp.one_type(n)
        want = [tuple(r) for r in g["requests"]]
        self.assertEqual(len(wire.trace), len(want))
        for i, (got, exp) in enumerate(zip(wire.trace, want)):
            self.assertEqual(got, exp, "request %d differs" % i)

    def test_first_two_types_as_quickpage_sent_them(self):
        self.check("qp_pattern_golden.json")

    def test_with_core_columns_the_parent_lookup_too(self):
        self.check("qp_pattern_golden_core.json")


class Branches(unittest.TestCase):
    def run_types(self, wire, names):
        qp = qpp.QuickPage(wire, "cns")
        qp.connect()
        for n in names:
            qp.one_type(n)
        return kinds(wire)

    def test_unknown_type_costs_one_query(self):
        self.assertEqual(self.run_types(FakeWire({}), ["NoSuch"]), ["neurons"])

    def test_refused_partner_query_ends_the_pair(self):
        # no upstream/downstream columns: pandas' KeyError ends the type
        self.assertEqual(self.run_types(FakeWire({"T": [1, 2]}), ["T"]),
                         ["neurons", "upstream", "hierarchy"])

    def test_answered_partners_and_parent_lookup(self):
        w = FakeWire({"T": [1, 2]}, partners_ok=True,
                     counts=("pre", "post", "downstream", "upstream"))
        self.assertEqual(self.run_types(w, ["T"]),
                         ["neurons", "upstream", "downstream", "hierarchy", "parent"])
        ids = [b for _, _, b in w.trace if b and "ConnectsTo" in b]
        self.assertIn("IN [1, 2] AND", json.loads(ids[0])["cypher"])
        self.assertIn("(downstream:Neuron)", json.loads(ids[1])["cypher"])

    def test_no_primary_roi_no_parent_lookup(self):
        w = FakeWire({"T": [1]}, counts=("pre", "post", "downstream", "upstream"),
                     rois={"AB(L)": {"pre": 5, "post": 5}})
        self.assertEqual(self.run_types(w, ["T"]), ["neurons", "upstream", "hierarchy"])

    def test_parent_lookup_needs_a_roi_over_the_threshold(self):
        # 70 primary ROIs with equal shares: 1.43 % each, under 1.5 %
        many = ["R%02d(R)" % i for i in range(70)]
        h = {"name": "male-cns", "children": [{"name": r} for r in many]}
        counts = ("pre", "post", "downstream", "upstream")
        for extra, want in ((0, ["neurons", "upstream", "hierarchy"]),
                            (10, ["neurons", "upstream", "hierarchy", "parent"])):
            rois = {r: {c: 10 for c in counts} for r in many}
            rois[many[0]] = {c: 10 + extra for c in counts}      # 2.8 % with 20
            w = FakeWire({"T": [1]}, counts=counts, rois=rois, primary=many, hierarchy=h)
            self.assertEqual(self.run_types(w, ["T"]), want)

    def test_meta_and_keys_fetched_once(self):
        w = FakeWire({"A": [1], "B": [2]})
        self.run_types(w, ["A", "B"])
        once = [k for k, _, _, _, o in w.log if o]
        self.assertEqual(once, ["datasets", "meta", "keys", "keys"])

    def test_newer_client_asks_version_before_each_query(self):
        w = FakeWire({"T": [1]}, versions=True)
        self.run_types(w, ["T"])
        methods = [p for _, p, _ in w.trace]
        posts = methods.count("/api/custom/custom")
        self.assertEqual(methods.count("/api/version"), posts)
        for i, p in enumerate(methods):
            if p == "/api/custom/custom":
                self.assertEqual(methods[i - 1], "/api/version")


class Names(unittest.TestCase):
    def test_quickpage_page_pattern(self):
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            for f in ["A.html", "A_L.html", "A_R.html", "X_Y_M.html", "B b.html",
                      "C.d.html", "index.html", "main_L.html", "notes.txt"]:
                open(os.path.join(d, f), "w").close()
            self.assertEqual(qpp.type_names(d), ["A", "X_Y"])


class Extrapolation(unittest.TestCase):
    def test_estimate_per_stratum(self):
        groups = {"found": ["f%02d" % i for i in range(90)],
                  "missing": ["m%02d" % i for i in range(10)]}
        picked = {"found": ["f01", "f02"], "missing": ["m01", "m02"]}
        run = {"once": {"wall_s": 1.0, "requests": 4, "bytes_in": 100},
               "per_type": [{"name": "f01", "wall_s": 0.5, "requests": 3, "bytes_in": 10},
                            {"name": "f02", "wall_s": 1.5, "requests": 3, "bytes_in": 30},
                            {"name": "m01", "wall_s": 0.2, "requests": 1, "bytes_in": 1},
                            {"name": "m02", "wall_s": 0.2, "requests": 1, "bytes_in": 1}]}
        e = qpp.extrapolate(run, groups, picked)
        self.assertAlmostEqual(e["wall_s"]["estimate"], 1.0 + 90 * 1.0 + 10 * 0.2)
        self.assertEqual(e["requests"]["estimate"], 4 + 90 * 3 + 10 * 1)
        self.assertEqual(e["requests"]["low"], e["requests"]["high"])
        self.assertLess(e["wall_s"]["low"], e["wall_s"]["estimate"])
        # every type replayed: no interval
        whole = {"found": ["f01", "f02"], "missing": ["m01", "m02"]}
        full = qpp.extrapolate(run, whole, whole)
        self.assertEqual(full["wall_s"]["low"], full["wall_s"]["high"])

    def test_sample_is_fixed_sorted_and_stratified(self):
        names = ["t%03d" % i for i in range(300)]
        groups = qpp.strata(names, set(names[:290]))
        self.assertEqual(len(groups["missing"]), 10)
        a = qpp.sample(groups, 40, 24)
        self.assertEqual(a, qpp.sample(groups, 40, 24))
        self.assertEqual(sum(len(v) for v in a.values()), 40)
        self.assertEqual(len(a["missing"]), 2)      # 40 x 10/300 is 1: at least 2
        for v in a.values():
            self.assertEqual(v, sorted(set(v)))
        self.assertEqual(qpp.sample(groups, 0, 24), groups)


if __name__ == "__main__":
    unittest.main()
