"""Tests of emu/oracle.py.  cd tests/neuprint-emu && python3 -m unittest discover -s tests -p 'test_oracle.py'

The hand-made datasets below have their answers worked out by hand from
docs/create-index.md; the comments show the arithmetic."""

import json
import os
import re
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from emu import dataset, oracle  # noqa: E402


def R(pre, post):
    return {"pre": pre, "post": post, "downstream": pre * 4, "upstream": post,
            "synweight": pre * 4 + post}


class Fake:
    """Just what oracle() reads: neurons and meta."""

    def __init__(self, neurons, meta):
        self.neurons = neurons
        self.meta = meta


# Children deliberately out of order; the walk must sort them by bytes.
TREE = {"name": "CNS", "children": [
    {"name": "Zeta(R)", "children": [{"name": "P1(R)"}]},
    {"name": "Alpha", "children": [
        {"name": "P2", "children": [{"name": "p2sub"}]},
        {"name": "pa"}, {"name": "PZ"}, {"name": "Q1"}, {"name": "Q2"},
        {"name": "Q3"}, {"name": "Q4"}, {"name": "Q5"}, {"name": "Q6"}]},
    {"name": "Zeta(L)", "children": [{"name": "P1(L)"}]},
    {"name": "P3"},
    {"name": "Aaa", "children": [{"name": "D(M)"}]},
    {"name": "Beta", "children": [{"name": "D"}]},
    {"name": "LegNp(T1)(L)"},
]}
PRIMARY = ["P1(R)", "P1(L)", "P2", "pa", "PZ", "Q1", "Q2", "Q3", "Q4", "Q5", "Q6",
           "P3", "D", "LegNp(T1)(L)", "Orphan_L"]


def neuron(bid, t, roi, pre=None, post=None, **kw):
    n = {"bodyId": bid, "instance": kw.pop("instance", (t or "x") + "_R"), "status": "Traced",
         "roiInfo": json.dumps(roi)}
    if t is not None:
        n["type"] = t
    if pre is not None:
        n["pre"] = pre
    if post is not None:
        n["post"] = post
    n.update(kw)
    for k in roi:
        n[k] = True
    return n


def make_ds():
    N = []
    # T1: pre total over primaries 100+50+3+47 = 200, post 50+20+1+29 = 100
    # order by pre+post: P2 150, P1(L) 76, P1(R) 70, P3 3, P4.. (Alpha is not primary)
    N.append(neuron(1, "T1", {"P2": R(100, 50), "P1(R)": R(50, 20), "P3": R(3, 0),
                              "Q1": R(0, 1), "Alpha": R(100, 51), "Zeta(R)": R(50, 20),
                              "p2sub": R(90, 40)}, 160, 120, somaSide="R",
                    consensusNt="gaba"))
    N.append(neuron(2, "T1", {"P1(L)": R(47, 29), "Zeta(L)": R(47, 29)}, 50, 30,
                    somaSide="L", consensusNt="acetylcholine"))
    N.append(neuron(3, "T1", {}, None, None, somaSide="L", consensusNt="acetylcholine"))
    N.append(neuron(4, "T1", {}, 0, 0, consensusNt="gaba", instance="T1_M"))
    # T2: ties: P2 20, PZ 10, pa 10 -> P2, PZ, pa ('P' 0x50 < 'p' 0x70)
    N.append(neuron(5, "T2", {"pa": R(5, 5), "PZ": R(5, 5), "P2": R(10, 10)}, 20, 20))
    # T3: mostly P3, a child of the root -> parent "CNS"
    N.append(neuron(6, "T3", {"P3": R(90, 90), "P2": R(10, 10)}, 100, 100,
                    consensusNt="\u00e9-nt"))
    N.append(neuron(7, "T3", {"P3": R(1, 1)}, 1, 1, consensusNt="zz"))
    # T4: 7 ROIs, all >= 1.5% -> stop after 5 (Q6 biggest ... Q1 smallest)
    N.append(neuron(8, "T4", {"Q%d" % i: R(10 * i, 10 * i) for i in range(1, 7)} |
                    {"P3": R(5, 5)}, 215, 215))
    # T5: no primary ROI at all -> [] and "" ; no consensusNt
    N.append(neuron(9, "T5", {"Alpha": R(5, 5), "p2sub": R(5, 5)}, 10, 10))
    # T6: D is first; D(M) under Aaa displays as "D" and comes first in the walk
    N.append(neuron(10, "T6", {"D": R(10, 10)}, 10, 10))
    # T7: LegNp(T1)(L) displays "LegNp(T1)"; below 1.5% on both -> dropped
    #     pre: 1000 + 15 = 1015 -> 15/1015 = 1.4778% ; post: 0 + 1 -> 1/1001 = 0.0999%
    N.append(neuron(11, "T7", {"LegNp(T1)(L)": R(1000, 1000), "P2": R(15, 1)}, 1015, 1001))
    # collisions
    N.append(neuron(12, "ADNM1 MN", {"P2": R(1, 0)}, 1, 0, somaSide="L"))
    N.append(neuron(13, "ADNM1_MN", {"P2": R(0, 1)}, 0, 1, somaSide="R"))
    N.append(neuron(14, "hK/a", {"P2": R(1, 0)}, 1, 0, somaSide="L"))
    N.append(neuron(15, "hK a", {"P2": R(0, 1)}, 0, 1, somaSide="R"))
    # sides: somaSide first, else instance suffix _L/_R (not _M), else none
    N.append(neuron(16, "S", {}, 1, 2, somaSide="L", instance="S_R"))
    N.append(neuron(17, "S", {}, 1, 2, instance="S_R"))
    N.append(neuron(18, "S", {}, 1, 2, somaSide="M"))
    N.append(neuron(19, "S", {}, 1, 2, instance="S_M"))
    N.append(neuron(20, "S", {}, 1, 2, somaSide="U", instance="S_L"))
    N.append(neuron(21, "S", {}, 1, 2, instance="S"))
    N.append(neuron(22, None, {"P2": R(5, 5)}, 5, 5))            # untyped
    N.append(neuron(23, "A_B", {}, 1, 1, somaSide="L"))
    N.append(neuron(24, "NoPage", {}, 1, 1))
    # T8: a primary ROI in no hierarchy node: neuview rules make it its own parent;
    #     first non-null fields in bodyId order, lists sorted and distinct
    N.append(neuron(26, "T8", {"Orphan_L": R(5, 5)}, 5, 5, rootSide="R", somaSide="L",
                    celltypePredictedNt="gaba", synonyms="B 2025: y", **{"class": "c2"},
                    flywireType="F2, F1", trumanHl=7))
    N.append(neuron(25, "T8", {}, 0, 0, celltypePredictedNt="glutamate", dimorphism="dim",
                    **{"class": "c1"}, flywireType="F1", somaNeuromere="T1"))
    N.append(neuron(27, "T8", {}, 0, 0, synonyms="A 2024: x", **{"class": "c2"},
                    superclass="sc"))
    meta = {"uuid": "u-123", "primaryRois": PRIMARY, "roiHierarchy": json.dumps(TREE)}
    return Fake(N, meta)


PAGES = ["T1.html", "T1_L.html", "T1_R.html", "T2.html", "T3.html", "T4.html", "T5.html",
         "T6.html", "T7_M.html", "ADNM1_MN.html", "ADNM1_MN_L.html", "hK_a.html",
         "S.html", "S_L.html", "S_R.html", "S_M.html", "A_B_L.html", "Gone.html",
         "Gone_R.html", "T8.html", "index.html", "main.html", ".hidden.html", "notes.txt",
         "T2.htm"]


def write(d, names):
    for n in names:
        with open(os.path.join(d, n), "w") as f:
            f.write("x")
    os.mkdir(os.path.join(d, "Dir.html"))


class HandMade(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        write(cls.tmp.name, PAGES)
        cls.out = oracle.oracle(make_ds(), "male-cns:v0.9", cls.tmp.name)
        cls.by = {t["name"]: t for t in cls.out["types"]}

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_top_level(self):
        o = self.out
        self.assertEqual(list(o), ["version", "layout", "rules", "dataset", "dataset_version",
                                   "types", "unmatched", "failed"])
        self.assertEqual((o["version"], o["layout"], o["rules"]), (2, "quickpage", "quickpage"))
        self.assertEqual(o["dataset"], "male-cns:v0.9")
        self.assertEqual(o["dataset_version"], {"uuid": "u-123", "last_database_edit": None})
        self.assertEqual(o["failed"], [])
        self.assertEqual(o["unmatched"], ["Gone"])
        # byte order: upper case before lower case; the two collision winners
        self.assertEqual([t["name"] for t in o["types"]],
                         ["ADNM1_MN", "A_B", "Gone", "S", "T1", "T2", "T3", "T4", "T5",
                          "T6", "T7", "T8", "hK a"])
        self.assertEqual(list(o["types"][0]), [
            "name", "urls", "counts", "synapses", "nt", "superclass", "class", "subclass",
            "dimorphism", "synonyms", "flywire_types", "soma_neuromeres",
            "truman_hemilineages", "roi_summary", "parent_rois", "parent_roi"])

    def test_threshold_dedupe_parent(self):
        t = self.by["T1"]
        self.assertEqual(t["roi_summary"], [
            {"name": "P2", "pre": 100, "post": 50, "pre_pct": 50.0, "post_pct": 50.0},
            {"name": "P1", "pre": 47, "post": 29, "pre_pct": 23.5, "post_pct": 29.0},
            {"name": "P3", "pre": 3, "post": 0, "pre_pct": 1.5, "post_pct": 0.0},
        ])     # P1(R) skipped (display P1 kept), Q1 post 1% dropped, P3 at exactly 1.5 kept
        self.assertEqual(t["parent_roi"], "Alpha")
        self.assertEqual(t["parent_rois"], ["Alpha"])
        self.assertEqual(t["urls"], {"combined": "T1.html", "left": "T1_L.html",
                                     "right": "T1_R.html"})
        # sides: R, L, L, undefined (cns: no instance fallback)
        self.assertEqual(t["counts"], {"total": 4, "left": 2, "right": 1, "middle": 0,
                                       "undefined": 1})
        self.assertEqual(t["nt"], "gaba")       # first non-null in bodyId order
        self.assertEqual(t["synapses"], {"pre": 210, "post": 150})  # missing counts 0

    def test_ties_by_name(self):
        t = self.by["T2"]
        self.assertEqual([r["name"] for r in t["roi_summary"]], ["P2", "PZ", "pa"])
        self.assertEqual(t["roi_summary"][1]["pre_pct"], 25.0)
        self.assertIsNone(t["nt"])

    def test_root_parent_and_nt_bytes(self):
        t = self.by["T3"]
        self.assertEqual(t["parent_roi"], "CNS")
        self.assertEqual(t["roi_summary"][0]["pre_pct"], 100.0 * 91 / 101)
        self.assertEqual(t["nt"], "\u00e9-nt")     # bodyId 6 comes first

    def test_stop_after_five(self):
        t = self.by["T4"]
        self.assertEqual([r["name"] for r in t["roi_summary"]], ["Q6", "Q5", "Q4", "Q3", "Q2"])
        self.assertEqual(t["roi_summary"][0]["pre_pct"], 100.0 * 60 / 215)
        self.assertEqual(t["parent_roi"], "Alpha")

    def test_no_primary(self):
        t = self.by["T5"]
        self.assertEqual((t["roi_summary"], t["parent_roi"]), ([], ""))

    def test_walk_order_display_match(self):
        # D(M) under Aaa is met before D under Beta
        self.assertEqual(self.by["T6"]["parent_roi"], "Aaa")

    def test_display_strip_and_threshold_below(self):
        t = self.by["T7"]
        self.assertEqual(t["roi_summary"], [{"name": "LegNp(T1)", "pre": 1000, "post": 1000,
                                             "pre_pct": 100.0 * 1000 / 1015,
                                             "post_pct": 100.0 * 1000 / 1001}])
        self.assertEqual(t["parent_roi"], "CNS")
        self.assertEqual(t["urls"], {"middle": "T7_M.html"})

    def test_collisions(self):
        a = self.by["ADNM1_MN"]          # equal to the stem wins
        self.assertEqual(a["counts"]["total"], 1)
        self.assertEqual(a["counts"]["right"], 1)
        self.assertEqual(a["urls"], {"combined": "ADNM1_MN.html", "left": "ADNM1_MN_L.html"})
        h = self.by["hK a"]               # else smallest by bytes: ' ' < '/'
        self.assertEqual(h["counts"], {"total": 1, "left": 0, "right": 1, "middle": 0,
                                       "undefined": 0})
        self.assertNotIn("ADNM1 MN", self.by)
        self.assertNotIn("hK/a", self.by)

    def test_sides(self):
        s = self.by["S"]
        # cns: rootSide, else somaSide, only L/R/M; the instance never counts:
        # 16 L, 17 undefined, 18 M, 19 undefined, 20 undefined (U), 21 undefined
        self.assertEqual(s["counts"], {"total": 6, "left": 1, "right": 0, "middle": 1,
                                       "undefined": 4})
        self.assertEqual(list(s["urls"]), ["combined", "left", "right", "middle"])
        self.assertEqual(s["synapses"], {"pre": 6, "post": 12})

    def test_fields(self):
        t = self.by["T8"]
        self.assertEqual(t["counts"]["right"], 1)            # rootSide before somaSide
        self.assertEqual(t["nt"], "glutamate")               # predicted, bodyId 25 first
        self.assertEqual(t["synonyms"], "B 2025: y")         # 26 before 27
        self.assertEqual(t["dimorphism"], "dim")
        self.assertEqual(t["class"], ["c1", "c2"])
        self.assertEqual(t["superclass"], ["sc"])
        self.assertEqual(t["subclass"], [])
        self.assertEqual(t["flywire_types"], ["F1", "F2"])   # split on ',' and trimmed
        self.assertEqual(t["soma_neuromeres"], ["T1"])
        self.assertEqual(t["truman_hemilineages"], ["7"])    # as strings
        self.assertEqual(t["parent_rois"], [])               # quickpage: no match, none

    def test_unmatched_and_suffix_stem(self):
        g = self.by["Gone"]
        self.assertEqual(g, {"name": "Gone", "urls": {"combined": "Gone.html",
                                                      "right": "Gone_R.html"},
                             "counts": {"total": 0, "left": 0, "right": 0, "middle": 0,
                                        "undefined": 0},
                             "synapses": {"pre": 0, "post": 0}, "nt": None,
                             "superclass": [], "class": [], "subclass": [],
                             "dimorphism": None, "synonyms": None, "flywire_types": [],
                             "soma_neuromeres": [], "truman_hemilineages": [],
                             "roi_summary": [], "parent_rois": [], "parent_roi": ""})
        self.assertEqual(self.by["A_B"]["urls"], {"left": "A_B_L.html"})
        self.assertNotIn("NoPage", self.by)      # types without pages get no entry
        self.assertNotIn("index", self.by)
        self.assertNotIn("main", self.by)
        self.assertNotIn("Dir", self.by)

    def test_helpers(self):
        self.assertEqual(oracle.display_name("LegNp(T1)(L)"), "LegNp(T1)")
        self.assertEqual(oracle.display_name("ME  (R)"), "ME")
        self.assertEqual(oracle.display_name("PB(R1)"), "PB(R1)")
        self.assertEqual(oracle.display_name("X(M)(R)"), "X(M)")
        self.assertEqual(oracle.file_stem("Tergopleural/Pleural promotor MN"),
                         "Tergopleural_Pleural_promotor_MN")


class NeuviewRules(unittest.TestCase):
    """The neuview rule set on the same data: cleaned names, no cap, every parent."""
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        write(cls.tmp.name, PAGES)
        cls.out = oracle.oracle(make_ds(), "male-cns:v1.0", cls.tmp.name, rules="neuview")
        cls.by = {t["name"]: t for t in cls.out["types"]}

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_parents(self):
        t = self.by["T1"]
        self.assertEqual(self.out["rules"], "neuview")
        self.assertEqual([r["name"] for r in t["roi_summary"]], ["P2", "P1", "P3"])
        # P2 under Alpha; P1 first met as P1(L) under Zeta(L); P3 under the root
        self.assertEqual(t["parent_rois"], ["Alpha", "CNS", "Zeta"])
        self.assertEqual(t["parent_roi"], "Alpha")

    def test_no_cap(self):
        t = self.by["T4"]
        self.assertEqual([r["name"] for r in t["roi_summary"]],
                         ["Q6", "Q5", "Q4", "Q3", "Q2", "Q1", "P3"])
        self.assertEqual(t["parent_rois"], ["Alpha", "CNS"])

    def test_own_parent_and_clean(self):
        t = self.by["T8"]
        self.assertEqual(t["roi_summary"][0]["name"], "Orphan")     # _L dropped
        self.assertEqual(t["parent_rois"], ["Orphan"])              # in no node: itself
        self.assertEqual(self.by["T7"]["parent_rois"], ["CNS"])     # a child of the root
        self.assertEqual(self.by["T6"]["parent_rois"], ["Aaa"])     # D(M) cleans to D

    def test_threshold(self):
        o = oracle.oracle(make_ds(), "cns", self.tmp.name, rules="neuview", threshold=30.0)
        t = {e["name"]: e for e in o["types"]}["T1"]
        self.assertEqual([r["name"] for r in t["roi_summary"]], ["P2"])

    def test_clean(self):
        self.assertEqual(oracle.clean_name("ME(R)"), "ME")
        self.assertEqual(oracle.clean_name("ME_L"), "ME")
        self.assertEqual(oracle.clean_name("LegNp(T1)(L)"), "LegNp(T1)")
        self.assertEqual(oracle.clean_name("X_R (L)"), "X")
        self.assertEqual(oracle.clean_name("PB(R1)"), "PB(R1)")


class Adapters(unittest.TestCase):
    def test_adapters(self):
        self.assertEqual(oracle.adapter_for("flywire-fafb:v783b"), "fafb")
        self.assertEqual(oracle.adapter_for("manc:v1.2.1"), "cns")
        ns = [{"instance": "T_L"}, {"instance": "T-R"}, {"instance": "T(m)"},
              {"instance": "T_Lx"}]
        self.assertEqual(oracle.type_sides("optic-lobe", ns), ["L", "R", "M", None])
        self.assertEqual(oracle.type_sides("hemibrain", ns), ["L", None, None, None])
        self.assertEqual(oracle.type_sides("cns", ns), [None] * 4)
        ns[0]["somaSide"] = "R"      # one neuron with a side property: no instance
        self.assertEqual(oracle.type_sides("hemibrain", ns), ["R", None, None, None])
        fw = [{"side": "left"}, {"side": "center"}, {"instance": "x_R"}, {"side": "odd"}]
        self.assertEqual(oracle.type_sides("fafb", fw), ["L", "M", "R", None])


class Generated(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ds = dataset.build("tiny", 1, cache_dir=False)
        cls.tmp = tempfile.TemporaryDirectory()
        cls.files = oracle.write_pages(cls.ds, cls.tmp.name)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_pages(self):
        ds = self.ds
        expect = {"main.html", "RetiredType1.html", "RetiredType1_L.html"}
        for t, ns in ds.by_type.items():
            st = t.replace("/", "_").replace(" ", "_")
            expect.add(st + ".html")
            for n in ns:
                s = oracle.neuron_side(n)
                if s:
                    expect.add("%s_%s.html" % (st, s))
        self.assertEqual(sorted(os.listdir(self.tmp.name)), sorted(expect))
        self.assertEqual(sorted(self.files), sorted(expect))
        self.assertIn("ADNM1_MN.html", expect)
        self.assertIn("Tergopleural_Pleural_promotor_MN.html", expect)
        with open(os.path.join(self.tmp.name, "KCa'b'-ap1.html"), encoding="utf-8") as f:
            self.assertIn("<title>KCa&#x27;b&#x27;-ap1</title>", f.read())
        with open(os.path.join(self.tmp.name, "ADNM1_MN.html"), encoding="utf-8") as f:
            self.assertIn("<title>ADNM1_MN</title>", f.read())
        # every page name parses back to its stem
        for fn in self.files:
            m = re.fullmatch(r"(.+?)(?:_([LRM]))?\.html", fn)
            self.assertIsNotNone(m)

    def test_oracle_on_generated(self):
        o = oracle.oracle(self.ds, "male-cns:v0.9", self.tmp.name)
        self.assertEqual(o["dataset_version"], {
            "uuid": self.ds.meta["uuid"],
            "last_database_edit": self.ds.meta["lastDatabaseEdit"]})
        self.assertEqual(oracle.dataset_version(self.ds.meta), "%s@%s" % (
            self.ds.meta["uuid"], self.ds.meta["lastDatabaseEdit"]))
        self.assertEqual(o["unmatched"], ["RetiredType1"])
        names = [t["name"] for t in o["types"]]
        self.assertEqual(names, sorted(names, key=lambda s: s.encode("utf-8")))
        self.assertEqual(len(names), len(self.ds.by_type) - 2 + 1)   # 2 collision losers, 1 orphan
        self.assertIn("ADNM1_MN", names)
        self.assertIn("hDeltaK a", names)
        self.assertNotIn("hDeltaK/a", names)
        parents = {t["parent_roi"] for t in o["types"]}
        self.assertIn("CNS", parents)
        for t in o["types"]:
            if t["name"] == "RetiredType1":
                continue
            self.assertEqual(t["counts"]["total"], len(self.ds.by_type[t["name"]]))
            self.assertLessEqual(len(t["roi_summary"]), 5)
            disp = [r["name"] for r in t["roi_summary"]]
            self.assertEqual(len(disp), len(set(disp)))
            for r in t["roi_summary"]:
                self.assertTrue(r["pre_pct"] >= 1.5 or r["post_pct"] >= 1.5)
                self.assertFalse(re.search(r"\((R|L|M)\)\Z", r["name"]))
        text = json.dumps(o, ensure_ascii=False, sort_keys=False, indent=1)
        self.assertEqual(json.loads(text), o)


if __name__ == "__main__":
    unittest.main()
