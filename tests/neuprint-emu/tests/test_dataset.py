"""Tests of emu/dataset.py.  cd tests/neuprint-emu && python3 -m unittest discover -s tests -p 'test_dataset.py'"""

import json
import os
import pickle
import re
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from emu import dataset  # noqa: E402

_CACHE = {}


def get(scale, seed=1, mutate=0.0):
    key = (scale, seed, mutate)
    if key not in _CACHE:
        _CACHE[key] = dataset.build(scale, seed, mutate_frac=mutate, cache_dir=False)
    return _CACHE[key]


def dump(ds):
    # by value: a pickle would also record which equal strings are shared
    return json.dumps((ds.neurons, ds.meta), sort_keys=True).encode("utf-8")


def roi_flags(n):
    """The ROI properties (`"ME(R)": true`); `cropped` is the one other
    boolean a neuron has."""
    return sorted(k for k, v in n.items() if v is True and k != "cropped")


def stem(name):
    return name.replace("/", "_").replace(" ", "_")


def tree_nodes(meta):
    """name -> (parent name, [children names])"""
    out = {}

    def walk(node, parent):
        out[node["name"]] = (parent, [c["name"] for c in node.get("children", [])])
        for c in node.get("children", []):
            walk(c, node["name"])
    walk(json.loads(meta["roiHierarchy"]), None)
    return out


class Determinism(unittest.TestCase):
    def test_same_args_same_dataset(self):
        for scale in ("tiny", "demo"):
            a = dataset.build(scale, 7, cache_dir=False)
            b = dataset.build(scale, 7, cache_dir=False)
            self.assertEqual(dump(a), dump(b))
            self.assertEqual(json.dumps(a.meta, sort_keys=True), json.dumps(b.meta, sort_keys=True))

    def test_seed_matters(self):
        a, b = get("tiny", 1), get("tiny", 2)
        self.assertNotEqual(dump(a), dump(b))
        self.assertNotEqual(a.meta["uuid"], b.meta["uuid"])

    @unittest.skipUnless(os.environ.get("EMU_SLOW") == "1", "set EMU_SLOW=1 for the cns run")
    def test_cns_twice(self):
        a = dataset.build("cns", 1, cache_dir=False)
        b = dataset.build("cns", 1, cache_dir=False)
        self.assertEqual(dump(a), dump(b))
        self.assertTrue(9000 <= len(a.by_type) <= 11000)
        self.assertTrue(160000 <= len(a.neurons) <= 172000)


class Scales(unittest.TestCase):
    def test_sizes(self):
        t, d = get("tiny"), get("demo")
        self.assertTrue(40 <= len(t.by_type) <= 60, len(t.by_type))
        self.assertTrue(700 <= len(d.by_type) <= 900, len(d.by_type))
        self.assertTrue(8000 <= len(d.neurons) <= 14000, len(d.neurons))
        sizes = sorted((len(v) for v in d.by_type.values()), reverse=True)
        small = sum(1 for s in sizes if 2 <= s <= 10)
        self.assertGreater(small, len(sizes) / 2)          # most types are small
        self.assertGreater(sizes[0], 200)                    # heavy tail

    def test_bad_scale(self):
        with self.assertRaises(ValueError):
            dataset.build("huge", cache_dir=False)


class Neurons(unittest.TestCase):
    def test_shape(self):
        ds = get("demo")
        ids = [n["bodyId"] for n in ds.neurons]
        self.assertEqual(len(ids), len(set(ids)))
        primary = set(ds.meta["primaryRois"])
        for n in ds.neurons:
            self.assertIsInstance(n["bodyId"], int)
            self.assertIsInstance(n["instance"], str)
            self.assertIsInstance(n["status"], str)
            self.assertIn(n.get("somaSide", "L"), ("L", "R", "M"))
            ri = json.loads(n["roiInfo"])
            self.assertTrue(ri)
            self.assertEqual(roi_flags(n), sorted(ri))
            ppre = sum(v.get("pre", 0) for k, v in ri.items() if k in primary)
            ppost = sum(v.get("post", 0) for k, v in ri.items() if k in primary)
            # neuPrint leaves zero counts out of roiInfo
            self.assertTrue(all(c for v in ri.values() for c in v.values()), ri)
            self.assertTrue(ppre <= n["pre"] <= ppre * 1.04 + 1, (ppre, n["pre"]))
            self.assertTrue(ppost <= n["post"] <= ppost * 1.04 + 1)
        for t, ns in ds.by_type.items():
            self.assertTrue(all(n["type"] == t for n in ns))
        self.assertEqual(sum(len(v) for v in ds.by_type.values()),
                         sum(1 for n in ds.neurons if "type" in n))
        avg = sum(sum(1 for k in json.loads(n["roiInfo"]) if "_col_" not in k)
                  for n in ds.neurons) / len(ds.neurons)
        self.assertTrue(8 <= avg <= 16, avg)

    def test_roi_levels_consistent(self):
        ds = get("demo")
        nodes = tree_nodes(ds.meta)
        primary = set(ds.meta["primaryRois"])
        self.assertTrue(primary <= set(nodes))
        root = [k for k, v in nodes.items() if v[0] is None][0]
        self.assertEqual(root, "CNS")

        def primaries_under(name):
            out = []
            for c in nodes[name][1]:
                if c in primary:
                    out.append(c)
                else:
                    out += primaries_under(c)
            return out
        under = {k: primaries_under(k) for k in nodes if k not in primary}
        for n in ds.neurons[:3000]:
            ri = json.loads(n["roiInfo"])
            self.assertNotIn("CNS", ri)
            for k, v in ri.items():
                self.assertEqual(v.get("synweight", 0),
                                 v.get("downstream", 0) + v.get("upstream", 0))
                if k in primary:
                    # every ancestor (except the root) is present
                    p = nodes[k][0]
                    while nodes[p][0] is not None:
                        self.assertIn(p, ri)
                        p = nodes[p][0]
                    kids = [c for c in nodes[k][1] if c in ri]
                    for f in ("pre", "post", "downstream", "upstream"):
                        self.assertLessEqual(sum(ri[c].get(f, 0) for c in kids), v.get(f, 0))
                elif under.get(k):
                    for f in ("pre", "post", "downstream", "upstream", "synweight"):
                        self.assertEqual(v.get(f, 0), sum(ri[c].get(f, 0) for c in under[k]
                                                          if c in ri), (k, f))
                elif "_col_" in k:      # column ROIs: outside the hierarchy
                    self.assertNotIn(k, nodes)
                else:   # sub-primary: its primary ancestor is present
                    p = nodes[k][0]
                    while p not in primary:
                        p = nodes[p][0]
                    self.assertIn(p, ri)

    def test_meta(self):
        ds = get("demo")
        m = ds.meta
        for k in ("dataset", "uuid", "lastDatabaseEdit", "totalPreCount", "totalPostCount",
                  "primaryRois", "superLevelRois", "roiInfo", "roiHierarchy",
                  "neuroglancerInfo", "neuroglancerMeta", "statusDefinitions"):
            self.assertIn(k, m)
        self.assertEqual(m["totalPreCount"], sum(n["pre"] for n in ds.neurons))
        self.assertEqual(m["totalPostCount"], sum(n["post"] for n in ds.neurons))
        self.assertIsInstance(json.loads(m["neuroglancerInfo"]), dict)
        self.assertIsInstance(json.loads(m["neuroglancerMeta"]), list)
        self.assertIsInstance(json.loads(m["statusDefinitions"]), dict)
        info = json.loads(m["roiInfo"])
        tot = {}
        for n in ds.neurons:
            for k, v in json.loads(n["roiInfo"]).items():
                tot[k] = tot.get(k, 0) + v.get("pre", 0)
        for k, v in tot.items():
            self.assertEqual(info[k]["pre"], v)
        self.assertIn("LegNp(T1)(L)", m["primaryRois"])
        self.assertIn("ME(R)", m["primaryRois"])
        self.assertIn("FB", m["primaryRois"])
        self.assertNotIn("ME_R_layer_03", m["primaryRois"])
        self.assertIn("ME_R_layer_03", tree_nodes(m))
        self.assertEqual(len(m["primaryRois"]), len(set(m["primaryRois"])))

    def test_side_mix_and_gaps(self):
        ds = get("tiny")
        kinds = set()
        for t, ns in ds.by_type.items():
            sides = [n.get("somaSide") for n in ns]
            suf = [n["instance"][-2:] for n in ns]
            if set(sides) >= {"L", "R"}:
                kinds.add("pair")
            if "M" in sides:
                kinds.add("mid")
            if len(ns) > 1 and len(set(sides)) == 1 and sides[0] in ("L", "R"):
                kinds.add("one")
            if all(s is None for s in sides) and set(suf) & {"_L", "_R"}:
                kinds.add("suffix-only")
            if all(s is None for s in sides) and not set(suf) & {"_L", "_R"}:
                kinds.add("none")
        self.assertEqual(kinds, {"pair", "mid", "one", "suffix-only", "none"})
        self.assertTrue(any("type" not in n for n in ds.neurons))
        self.assertTrue(any("consensusNt" not in n for n in ds.neurons if "type" in n))


class Names(unittest.TestCase):
    def test_awkward_names_every_scale(self):
        for scale in ("tiny", "demo"):
            names = list(get(scale).by_type)
            joined = "".join(names)
            for ch in "',/()+&. \"\\":
                self.assertIn(ch, joined, ch)
            self.assertTrue(any(ord(c) > 127 for c in joined))
            self.assertIn("ADNM1 MN", names)
            self.assertIn("ADNM1_MN", names)
            self.assertIn("KCa'b'-ap1", names)
            counts = {len(re.findall(r"[_ /]", n)) for n in names}
            for k in range(1, 9):
                self.assertIn(k, counts, k)
            stems = {}
            for n in names:
                self.assertFalse(re.search(r"_[LRM]\Z", stem(n)), n)
                self.assertNotIn("\n", n)
                stems.setdefault(stem(n), []).append(n)
            coll = sorted(sorted(v) for v in stems.values() if len(v) > 1)
            self.assertEqual(coll, [["ADNM1 MN", "ADNM1_MN"], ["hDeltaK a", "hDeltaK/a"]])

    def test_types_file(self):
        names = ["Foo", "Bar/baz qux", "Foo", "", "   ", "µ-x", "KCa'b'-ap1"]
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "types.txt")
            with open(p, "w", encoding="utf-8", newline="") as f:
                f.write("\r\n".join(names) + "\n\n")
            ds = dataset.build("tiny", 3, types_file=p, cache_dir=False)
            ds2 = dataset.build("tiny", 3, types_file=p, cache_dir=False)
            self.assertEqual(dump(ds), dump(ds2))
            self.assertEqual(sorted(ds.by_type), sorted(["Foo", "Bar/baz qux", "µ-x", "KCa'b'-ap1"]))
            # the cache key covers the file contents
            c = os.path.join(d, "cache")
            a = dataset.build("tiny", 3, types_file=p, cache_dir=c)
            with open(p, "w", encoding="utf-8") as f:
                f.write("Other\n")
            b = dataset.build("tiny", 3, types_file=p, cache_dir=c)
            self.assertEqual(sorted(a.by_type), sorted(ds.by_type))
            self.assertEqual(sorted(b.by_type), ["Other"])


class Mutate(unittest.TestCase):
    def test_mutate(self):
        base = get("demo")
        m = get("demo", 1, 0.1)
        m2 = dataset.build("demo", 1, mutate_frac=0.1, cache_dir=False)
        self.assertEqual(dump(m), dump(m2))
        self.assertNotEqual(base.meta["uuid"], m.meta["uuid"])
        self.assertNotEqual(base.meta["lastDatabaseEdit"], m.meta["lastDatabaseEdit"])
        self.assertEqual(len(base.neurons), len(m.neurons))
        changed = sum(1 for a, b in zip(base.neurons, m.neurons) if a != b)
        frac = changed / len(base.neurons)
        self.assertTrue(0.08 <= frac <= 0.101, frac)
        retyped = sum(1 for a, b in zip(base.neurons, m.neurons) if a.get("type") != b.get("type"))
        self.assertGreater(retyped, 0)
        self.assertEqual(m.meta["totalPreCount"], sum(n["pre"] for n in m.neurons))
        for n in m.neurons:
            self.assertEqual(roi_flags(n), sorted(json.loads(n["roiInfo"])))


class CacheAndHelpers(unittest.TestCase):
    def test_cache(self):
        with tempfile.TemporaryDirectory() as d:
            a = dataset.build("tiny", 5, cache_dir=d)
            files = os.listdir(d)
            self.assertEqual(len(files), 1)
            self.assertTrue(files[0].endswith(".pickle"))
            b = dataset.build("tiny", 5, cache_dir=d)
            self.assertEqual(dump(a), dump(b))
            self.assertEqual(sorted(a.by_type), sorted(b.by_type))
            dataset.build("tiny", 5, mutate_frac=0.2, cache_dir=d)
            self.assertEqual(len(os.listdir(d)), 2)     # base reused, mutated added
            with open(os.path.join(d, files[0]), "wb") as f:
                f.write(b"garbage")
            c = dataset.build("tiny", 5, cache_dir=d)    # a broken entry is regenerated
            self.assertEqual(dump(a), dump(c))

    def test_parsed_roi(self):
        ds = get("tiny")
        n = ds.neurons[3]
        p = ds.parsed_roi(n)
        self.assertEqual(p, json.loads(n["roiInfo"]))
        self.assertIs(p, ds.parsed_roi(n))
        ds.warm()
        self.assertIs(p, ds.parsed_roi(n))

    def test_floor_inputs(self):
        ds = get("tiny")
        primary = set(ds.meta["primaryRois"])
        typed = [n for n in ds.neurons if "type" in n]
        f = ds.floor_inputs()
        self.assertEqual(f["neurons"], len(typed))
        t = "ADNM1_MN"
        ns = ds.by_type[t]
        rois = sorted({k for n in ns for k in json.loads(n["roiInfo"]) if k in primary})
        g = ds.floor_inputs([t, t, "NoSuchType"])
        self.assertEqual(g["neurons"], len(ns))
        self.assertEqual(g["rows"], 1 + len(rois))
        self.assertGreater(g["bytes"], len(t) * g["rows"])
        self.assertLess(g["bytes"], f["bytes"])
        self.assertEqual(f["rows"], sum(ds.floor_inputs([x])["rows"] for x in ds.by_type))


class MaleCnsV10(unittest.TestCase):
    """The male-cns v1.0 data model (issue 13, item 1)."""

    def test_meta(self):
        m = get("demo").meta
        self.assertEqual((m["dataset"], m["tag"]), ("male-cns", "v1.0"))
        self.assertEqual(m["superLevelRois"], m["primaryRois"])
        self.assertRegex(m["uuid"], "^[0-9a-f]{32}$")

    def test_properties_and_null_rates(self):
        ns = get("demo").neurons
        typed = [n for n in ns if "type" in n]

        def frac(pred, pop=typed):
            return sum(1 for n in pop if pred(n)) / len(pop)
        only_root = frac(lambda n: "rootSide" in n and "somaSide" not in n, ns)
        only_soma = frac(lambda n: "somaSide" in n and "rootSide" not in n, ns)
        neither = frac(lambda n: "somaSide" not in n and "rootSide" not in n, ns)
        for x in (only_root, only_soma, neither):
            self.assertTrue(0.005 < x < 0.2, (only_root, only_soma, neither))
        self.assertGreater(frac(lambda n: "class" in n), 0.75)        # classes on most neurons
        self.assertGreater(frac(lambda n: "superclass" in n), 0.9)
        self.assertGreater(frac(lambda n: "celltypePredictedNt" in n), 0.85)
        syn = [n["synonyms"] for n in typed if "synonyms" in n]
        self.assertTrue(syn and all(re.fullmatch(r"[^:;]+ 20\d\d: [^;]+(; [^:;]+ 20\d\d: [^;]+)*", x)
                                    for x in syn), syn[:3])
        self.assertTrue(any(";" in x for x in syn))
        fw = [n["flywireType"] for n in typed if "flywireType" in n]
        self.assertTrue(any("," in x for x in fw))
        vnc = [n for n in typed if n["type"].startswith(("IN", "SN", "MN"))]
        self.assertGreater(frac(lambda n: "somaNeuromere" in n, vnc), 0.5)
        self.assertGreater(frac(lambda n: "trumanHl" in n, vnc), 0.5)
        self.assertFalse(any("trumanHl" in n for n in typed if n["type"].startswith("T4")))
        self.assertTrue(any("dimorphism" in n for n in typed))

    def test_column_rois(self):
        ds = get("demo")
        hier = tree_nodes(ds.meta)
        counts = []
        for n in ds.by_type["T4a"] + ds.by_type["Mi1"]:
            cols = [k for k in json.loads(n["roiInfo"]) if "_col_" in k]
            self.assertTrue(all(re.fullmatch(r"(ME|LO|LOP)_[LR]_col_\d\d_\d\d", k) for k in cols))
            self.assertTrue(all(n[k] is True for k in cols))
            self.assertFalse(set(cols) & set(hier) or set(cols) & set(ds.meta["primaryRois"]))
            counts.append(len(cols))
        self.assertGreater(sum(counts) / len(counts), 2)
        big = max(sum(1 for k in json.loads(n["roiInfo"]) if "_col_" in k) for n in ds.neurons)
        self.assertGreater(big, 100)                     # tangential cells: hundreds

    def test_annotations_keep_uuid(self):
        base = get("tiny")
        a = dataset.build("tiny", 1, annotate_frac=0.2, cache_dir=False)
        self.assertEqual(a.meta["uuid"], base.meta["uuid"])
        self.assertNotEqual(a.meta["lastDatabaseEdit"], base.meta["lastDatabaseEdit"])
        self.assertEqual([n["roiInfo"] for n in a.neurons], [n["roiInfo"] for n in base.neurons])
        m = dataset.build("tiny", 1, mutate_frac=0.2, cache_dir=False)
        self.assertNotEqual(m.meta["uuid"], base.meta["uuid"])
        self.assertNotEqual(m.meta["lastDatabaseEdit"], base.meta["lastDatabaseEdit"])

    def test_flavors(self):
        f = dataset.build("tiny", 1, flavor="fafb", cache_dir=False)
        self.assertEqual(f.meta["dataset"], "flywire-fafb")
        self.assertFalse(any("somaSide" in n or "rootSide" in n or "consensusNt" in n
                             for n in f.neurons))
        self.assertTrue({n.get("side") for n in f.neurons} >= {"left", "right"})
        self.assertTrue(any("predictedNt" in n for n in f.neurons))
        h = dataset.build("tiny", 1, flavor="hemibrain", cache_dir=False)
        self.assertFalse(any("somaSide" in n or "consensusNt" in n for n in h.neurons))
        mc = dataset.build("tiny", 1, flavor="manc", cache_dir=False)
        self.assertTrue({n.get("somaSide") for n in mc.neurons} >= {"LHS", "RHS"})
        ol = dataset.build("tiny", 1, flavor="optic-lobe", cache_dir=False)
        self.assertTrue(any(n["instance"].endswith(("-R", "(L)", "-L", "(R)")) for n in ol.neurons))
        with self.assertRaises(ValueError):
            dataset.build("tiny", 1, flavor="nope", cache_dir=False)


CORE = ("upstream", "downstream", "mito", "size", "status", "statusLabel", "cropped",
        "cellBodyFiber", "somaRadius", "somaLocation")
SENSORY = re.compile(r"SN|ORN_|CV-dominant")


def absent(ds, key, neurons=None):
    ns = ds.neurons if neurons is None else neurons
    return sum(1 for n in ns if n.get(key) is None) / len(ns)


class CoreColumns(unittest.TestCase):
    """neuprint-python's CORE_NEURON_COLS on every neuron, with the null rates
    of a whole-CNS dataset (issue 24, part 4)."""

    def test_present_and_typed(self):
        ds = get("demo")
        for n in ds.neurons:
            for k in ("upstream", "downstream", "mito", "size"):
                self.assertIs(type(n[k]), int, (k, n["bodyId"]))
                self.assertGreaterEqual(n[k], 0)
            self.assertIsInstance(n["statusLabel"], str)
            self.assertIn(n.get("cropped", False), (True, False))
            loc = n.get("somaLocation")
            self.assertEqual(loc is None, n.get("somaRadius") is None)
            if loc is not None:
                self.assertEqual(loc["type"], "Point")
                self.assertEqual(loc["crs"]["name"], "cartesian-3d")
                self.assertEqual([type(c) for c in loc["coordinates"]], [int] * 3)
                self.assertTrue(120 <= n["somaRadius"] <= 1200, n["somaRadius"])
        labels = {(n["status"], n["statusLabel"]) for n in ds.neurons}
        self.assertTrue({l for s, l in labels if s == "Traced"}
                        <= {"Traced", "Roughly traced", "Prelim Roughly traced"}, labels)
        self.assertTrue(all(l.endswith("Anchor") for s, l in labels if s == "Anchor"), labels)
        # size grows with the synapse count; mito with the size
        big = sorted(ds.neurons, key=lambda n: n["pre"] + n["post"])
        lo, hi = big[:1000], big[-1000:]
        self.assertGreater(sum(n["size"] for n in hi), 5 * sum(n["size"] for n in lo))
        self.assertGreater(sum(n["mito"] for n in hi), 5 * sum(n["mito"] for n in lo))

    def test_null_rates(self):
        ds = get("demo")
        for k in ("upstream", "downstream", "mito", "size", "status", "statusLabel"):
            self.assertEqual(absent(ds, k), 0.0, k)
        self.assertTrue(0.01 <= absent(ds, "cropped") <= 0.06, absent(ds, "cropped"))
        self.assertTrue(0.05 <= absent(ds, "somaLocation") <= 0.25, absent(ds, "somaLocation"))
        self.assertTrue(0.5 <= absent(ds, "cellBodyFiber") <= 0.85, absent(ds, "cellBodyFiber"))
        fam = {t: p["family"] for t, p in ds.profiles.items()}
        sensory = [n for n in ds.neurons if SENSORY.match(n.get("type") or "")]
        self.assertGreater(len(sensory), 20)
        self.assertGreater(absent(ds, "somaLocation", sensory), 0.8)   # no soma in the volume
        for n in ds.neurons:
            f = fam.get(n.get("type"))
            if f in ("OL", "VNC", "AN", "CVX"):
                self.assertNotIn("cellBodyFiber", n)                 # central brain only
            if "cellBodyFiber" in n:
                self.assertIn("somaLocation", n)
                self.assertRegex(n["cellBodyFiber"], r"^[AP][DV][LM]\d\d$")
                m = re.match(r"\((\w+)\)", n["instance"])
                if m:                                                # untyped: "(PDM07)_L"
                    self.assertEqual(n["cellBodyFiber"], m.group(1))
        # one fiber per type
        for t, ns in ds.by_type.items():
            self.assertLessEqual(len({n["cellBodyFiber"] for n in ns if "cellBodyFiber" in n}), 1, t)

    def test_soma_on_its_side(self):
        ds = get("demo")
        seen = 0
        for n in ds.neurons:
            loc = n.get("somaLocation")
            if loc is None or n.get("somaSide") not in ("L", "R", "M"):
                continue
            x = loc["coordinates"][0] - dataset._MIDLINE_X
            side = n["somaSide"]
            self.assertTrue(x < 0 if side == "R" else (x > 0 if side == "L" else abs(x) <= 1500),
                            (side, loc))
            seen += 1
        self.assertGreater(seen, len(ds.neurons) / 2)

    def check_flow(self, ds, neurons):
        """upstream/downstream agree with roiInfo: per ROI upstream = post and
        downstream = pre x 3..8; the neuron's totals are the primary ROIs' sums
        plus what lies outside them (neuprint-python's NotPrimary row), never
        less."""
        primary = set(ds.meta["primaryRois"])
        for n in neurons:
            ri = json.loads(n["roiInfo"])
            sums = dict.fromkeys(("pre", "post", "upstream", "downstream"), 0)
            for k, v in ri.items():
                self.assertEqual(v.get("upstream", 0), v.get("post", 0), (k, v))
                p = v.get("pre", 0)
                self.assertGreaterEqual(v.get("downstream", 0), 3 * p, (k, v))
                if k in primary:
                    self.assertLessEqual(v.get("downstream", 0), 8 * p, (k, v))
                    for f in sums:
                        sums[f] += v.get(f, 0)
            self.assertEqual(n["upstream"], n["post"])
            outside = n["pre"] - sums["pre"]
            self.assertGreaterEqual(outside, 0)
            self.assertGreaterEqual(n["upstream"], sums["upstream"])
            self.assertTrue(sums["downstream"] + 3 * outside <= n["downstream"]
                            <= sums["downstream"] + 8 * outside, n["bodyId"])

    def test_roi_info_flow_matches_totals(self):
        ds = get("demo")
        self.check_flow(ds, ds.neurons)
        self.assertGreater(sum(n["downstream"] for n in ds.neurons),
                           3 * sum(n["pre"] for n in ds.neurons))

    def test_mutated_neurons_keep_the_flow(self):
        base, m = get("demo"), get("demo", mutate=0.1)
        changed = [b for a, b in zip(base.neurons, m.neurons) if a["roiInfo"] != b["roiInfo"]]
        self.assertGreater(len(changed), 500)
        self.check_flow(m, changed)

    def test_flavors_keep_them(self):
        for fl in ("fafb", "hemibrain", "manc", "optic-lobe"):
            f = dataset.build("tiny", 1, flavor=fl, cache_dir=False)
            for k in ("upstream", "downstream", "mito", "size", "statusLabel"):
                self.assertEqual(absent(f, k), 0.0, (fl, k))
            self.assertLess(absent(f, "somaLocation"), 0.5, fl)

    def test_not_roi_lists(self):
        # neuprint-python derives inputRois/outputRois from roiInfo: a
        # :Neuron has no such property
        ds = get("tiny")
        self.assertFalse(any("inputRois" in n or "outputRois" in n for n in ds.neurons))


if __name__ == "__main__":
    unittest.main()
