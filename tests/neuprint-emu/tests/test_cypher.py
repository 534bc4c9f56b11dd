"""Tests of emu/cypher.py against a small hand-made fake Dataset.

Run:  cd tests/neuprint-emu && /usr/bin/python3 -m unittest tests.test_cypher -v
Benchmark (166k synthetic neurons):  EMU_BENCH=1 ... tests.test_cypher.Bench -v
"""

import json
import os
import random
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from emu import cypher  # noqa: E402
from emu.cypher import CypherError, execute, shape_of  # noqa: E402


# --------------------------------------------------------------------------
# fake dataset (same attributes as dataset.Dataset in CONTRACT.md)

class FakeDataset:
    def __init__(self, neurons, meta):
        self.neurons = neurons
        self.meta = meta
        self.by_type = {}
        for n in neurons:
            if "type" in n:
                self.by_type.setdefault(n["type"], []).append(n)
        self._roi = {}
        self.parsed_calls = 0

    def parsed_roi(self, neuron):
        self.parsed_calls += 1
        r = self._roi.get(id(neuron))
        if r is None:
            r = self._roi[id(neuron)] = json.loads(neuron["roiInfo"])
        return r


class PoisonDataset:
    """Any access means the query was (at least partly) executed."""

    def __getattr__(self, name):
        raise AssertionError("dataset touched: %s" % name)


TYPES = ["LC10a", "KCa'b'-ap1", "Tergopleural/Pleural promotor MN",
         "DLMn a, b", "PEN_b(PEN2)", "VP1d+VP4_l2PN1", "SMPp&v1B_M02",
         "IN20A.22A070,IN20A.22A080", 'quo"te', "back\\slash", "uni\u00e9",
         "tab\there", "T4"]
ROIS = ["ME(R)", "LO(R)", "ME_R_layer_01", "OL(R)", "SMP(R)", "CentralBrain",
        "LO(L)"]
PRIMARY = ["ME(R)", "LO(R)", "SMP(R)", "LO(L)"]


def make_dataset(seed=3):
    rng = random.Random(seed)
    neurons = []
    bid = 1000
    order = []
    for t in TYPES:
        order += [t] * rng.randint(1, 6)
    rng.shuffle(order)      # a type's neurons are not contiguous
    order[5:5] = [None, None]
    order.append(None)
    for t in order:
        bid += rng.randint(1, 7)
        side = rng.choice(["L", "R", "M", None])
        ri = {}
        for roi in rng.sample(ROIS, rng.randint(0, 5)):
            c = {"pre": rng.randint(0, 30), "post": rng.randint(0, 90),
                 "downstream": 3, "upstream": 4}
            if rng.random() < 0.2:
                del c["pre"]
            ri[roi] = c
        n = {"bodyId": bid, "instance": "%s_%s" % (t or "x", side or "R"),
             "status": rng.choice(["Traced", "Anchor"]),
             "pre": rng.randint(0, 400), "post": rng.randint(0, 900),
             "roiInfo": json.dumps(ri)}
        if t is not None:
            n["type"] = t
        if side is not None:
            n["somaSide"] = side
        if rng.random() < 0.8:
            n["consensusNt"] = rng.choice(["acetylcholine", "gaba", "glutamate"])
        for roi in ri:
            n[roi] = True
        neurons.append(n)
    meta = {"dataset": "male-cns:v0.9", "uuid": "abc123",
            "lastDatabaseEdit": "2025-01-02 03:04:05",
            "totalPreCount": 10, "totalPostCount": 20,
            "primaryRois": list(PRIMARY), "superLevelRois": ["OL(R)"],
            "roiInfo": json.dumps({r: {"pre": 1, "post": 2} for r in ROIS}),
            "roiHierarchy": json.dumps({"name": "CNS", "children": [
                {"name": "OL(R)", "children": [{"name": "ME(R)"}]}]}),
            "neuroglancerInfo": json.dumps({"segmentation": "x"}),
            "neuroglancerMeta": json.dumps([{"a": 1}]),
            "statusDefinitions": json.dumps({"Traced": "done"})}
    return FakeDataset(neurons, meta)


def q1(s):
    """Single-quoted Cypher literal as docs/queries.md writes it."""
    out = []
    for ch in s:
        if ch == "\\":
            out.append("\\\\")
        elif ch == "'":
            out.append("\\'")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20:
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(ch)
    return "'" + "".join(out) + "'"


def q2(s):
    """Double-quoted literal using \\uXXXX for every non-ASCII character."""
    out = []
    for ch in s:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ord(ch) < 0x20 or ord(ch) > 0x7e:
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def qlist(names, quote=q1):
    return "[" + ", ".join(quote(x) for x in names) + "]"


META_Q = ("MATCH (m:Meta) RETURN m.primaryRois AS primaryRois, m.roiHierarchy AS "
          "roiHierarchy, m.uuid AS uuid, m.lastDatabaseEdit AS lastDatabaseEdit")
CELLS_Q = ("UNWIND %s AS t MATCH (n:Neuron) WHERE n.type = t RETURN n.type AS type, "
           "n.somaSide AS side, n.instance AS instance, n.consensusNt AS nt, "
           "count(n) AS cells, sum(n.pre) AS pre, sum(n.post) AS post")
ROIS_Q = ("UNWIND %s AS t MATCH (n:Neuron) WHERE n.type = t WITH n.type AS type, "
          "apoc.convert.fromJsonMap(n.roiInfo) AS ri UNWIND keys(ri) AS roi WITH "
          "type, roi, ri[roi] AS c WHERE roi IN %s RETURN type, roi, sum(c.pre) AS "
          "pre, sum(c.post) AS post")
TYPES_Q = "MATCH (n:Neuron) WHERE n.type IS NOT NULL RETURN DISTINCT n.type AS type"
TYPE_Q = ("MATCH (n:Neuron) WHERE n.type = %s RETURN n.bodyId AS bodyId, n.type AS "
          "type, n.instance AS instance, n.somaSide AS somaSide, n.status AS status, "
          "n.pre AS pre, n.post AS post, n.consensusNt AS consensusNt, n.roiInfo AS "
          "roiInfo")
FETCH_META_Q = """\
    MATCH (m:Meta)
    WITH m as m,
         apoc.convert.fromJsonMap(m.roiInfo) as roiInfo,
         apoc.convert.fromJsonMap(m.roiHierarchy) as roiHierarchy,
         apoc.convert.fromJsonMap(m.neuroglancerInfo) as neuroglancerInfo,
         apoc.convert.fromJsonList(m.neuroglancerMeta) as neuroglancerMeta,
         apoc.convert.fromJsonMap(m.statusDefinitions) as statusDefinitions
    RETURN m as meta, roiInfo, roiHierarchy, neuroglancerInfo, neuroglancerMeta, statusDefinitions"""


# independent answers in plain Python

def exp_cells(ds, batch):
    groups = {}
    for t in batch:
        for n in ds.neurons:
            if n.get("type") != t:
                continue
            k = (n.get("type"), n.get("somaSide"), n.get("instance"),
                 n.get("consensusNt"))
            g = groups.setdefault(k, [0, 0, 0])
            g[0] += 1
            g[1] += n.get("pre") or 0
            g[2] += n.get("post") or 0
    return [list(k) + g for k, g in groups.items()]


def exp_rois(ds, batch, primary):
    groups = {}
    for t in batch:
        for n in ds.neurons:
            if n.get("type") != t:
                continue
            for roi, c in json.loads(n["roiInfo"]).items():
                if roi in primary:
                    g = groups.setdefault((t, roi), [0, 0])
                    g[0] += c.get("pre", 0)
                    g[1] += c.get("post", 0)
    return [list(k) + g for k, g in groups.items()]


class Base(unittest.TestCase):
    def setUp(self):
        self.ds = make_dataset()

    def run_q(self, text, ds=None):
        return execute(ds or self.ds, text)

    def rows(self, text):
        return self.run_q(text).rows

    def assertCypherError(self, text, *fragments, ds=None):
        with self.assertRaises(CypherError) as cm:
            execute(ds if ds is not None else PoisonDataset(), text)
        msg = cm.exception.message
        self.assertEqual(str(cm.exception), msg)
        for f in fragments:
            self.assertIn(f, msg)
        return msg


# --------------------------------------------------------------------------

class ProductQueries(Base):
    """Every query of docs/queries.md and neuprint-python's metadata calls."""

    def test_meta(self):
        r = self.run_q(META_Q)
        m = self.ds.meta
        self.assertEqual(r.columns, ["primaryRois", "roiHierarchy", "uuid",
                                     "lastDatabaseEdit"])
        self.assertEqual(r.rows, [[m["primaryRois"], m["roiHierarchy"], m["uuid"],
                                   m["lastDatabaseEdit"]]])
        self.assertEqual(r.cost.as_dict(), {"scanned": 0, "matched": 0,
                                            "json_parsed": 0, "rows_out": 1})

    def test_cells(self):
        batches = [TYPES[:4], TYPES[4:9], TYPES[9:], ["LC10a", "not a type",
                                                      "LC10a"], ["nope"]]
        for batch in batches:
            for quote in (q1, q2):
                r = self.run_q(CELLS_Q % qlist(batch, quote))
                self.assertEqual(r.columns, ["type", "side", "instance", "nt",
                                             "cells", "pre", "post"])
                self.assertEqual(r.rows, exp_cells(self.ds, batch), batch)
                reached = sum(len(self.ds.by_type.get(t, ())) for t in batch)
                self.assertEqual(r.cost.matched, reached)
                self.assertEqual(r.cost.scanned, 0)
                self.assertEqual(r.cost.json_parsed, 0)
                self.assertEqual(r.cost.rows_out, len(r.rows))

    def test_rois(self):
        primary = self.ds.meta["primaryRois"]
        for batch in (TYPES[:5], TYPES[5:], TYPES, ["missing"]):
            self.ds.parsed_calls = 0
            r = self.run_q(ROIS_Q % (qlist(batch), qlist(primary)))
            self.assertEqual(r.columns, ["type", "roi", "pre", "post"])
            self.assertEqual(r.rows, exp_rois(self.ds, batch, primary))
            reached = sum(len(self.ds.by_type.get(t, ())) for t in batch)
            self.assertEqual(r.cost.matched, reached)
            self.assertEqual(r.cost.json_parsed, reached)
            self.assertEqual(self.ds.parsed_calls, reached)   # the cache is used
            self.assertEqual(r.cost.scanned, 0)

    def test_types(self):
        r = self.run_q(TYPES_Q)
        seen = []
        for n in self.ds.neurons:
            if n.get("type") is not None and n["type"] not in seen:
                seen.append(n["type"])
        self.assertEqual(r.columns, ["type"])
        self.assertEqual(r.rows, [[t] for t in seen])
        self.assertEqual(r.cost.scanned, len(self.ds.neurons))
        self.assertEqual(r.cost.matched, 0)

    def test_type_every_name_both_quotes(self):
        cols = ["bodyId", "type", "instance", "somaSide", "status", "pre", "post",
                "consensusNt", "roiInfo"]
        for t in TYPES:
            expected = [[n.get(c) for c in cols] for n in self.ds.neurons
                        if n.get("type") == t]
            for quote in (q1, q2):
                r = self.run_q(TYPE_Q % quote(t))
                self.assertEqual(r.columns, cols)
                self.assertEqual(r.rows, expected, t)
                self.assertEqual(r.cost.matched, len(expected))
                self.assertEqual(r.cost.scanned, 0)

    def test_fetch_meta(self):
        r = self.run_q(FETCH_META_Q)
        self.assertEqual(r.columns, ["meta", "roiInfo", "roiHierarchy",
                                     "neuroglancerInfo", "neuroglancerMeta",
                                     "statusDefinitions"])
        m = self.ds.meta
        self.assertEqual(r.rows, [[m, json.loads(m["roiInfo"]),
                                   json.loads(m["roiHierarchy"]),
                                   json.loads(m["neuroglancerInfo"]),
                                   json.loads(m["neuroglancerMeta"]),
                                   json.loads(m["statusDefinitions"])]])
        r.rows[0][0]["uuid"] = "changed"            # a copy, not the node
        self.assertEqual(self.ds.meta["uuid"], "abc123")
        json.dumps(r.rows)
        # a Meta node without the optional strings gives nulls
        del self.ds.meta["neuroglancerInfo"]
        self.assertIsNone(self.run_q(FETCH_META_Q).rows[0][3])

    def test_fetch_primary_rois(self):
        r = self.run_q("MATCH (m:Meta) RETURN m.primaryRois as rois")
        self.assertEqual(r.columns, ["rois"])
        self.assertEqual(r.rows, [[PRIMARY]])

    def test_neuprint_python_shapes(self):
        ids = [n["bodyId"] for n in self.ds.neurons[3:6]]
        for text in ("MATCH (n:Neuron) WHERE n.bodyId IN [%d,%d,%d] RETURN n.bodyId "
                     "AS bodyId, n.type AS type",
                     "MATCH (n :Neuron) WHERE n.bodyId IN [%d, %d, %d] RETURN "
                     "n.bodyId AS bodyId, n.type AS type",
                     "match (n : Neuron)\n where n.bodyId in [ %d , %d , %d ]\n "
                     "return n.bodyId as bodyId, n.type as type"):
            r = self.run_q(text % tuple(ids))
            self.assertEqual(r.rows, [[n["bodyId"], n.get("type")]
                                      for n in self.ds.neurons[3:6]])
            self.assertEqual((r.cost.matched, r.cost.scanned), (3, 0))
        n = self.ds.neurons[7]
        r = self.run_q("MATCH (n:Neuron {bodyId: %d}) RETURN n" % n["bodyId"])
        self.assertEqual(r.rows, [[n]])
        self.assertEqual((r.cost.matched, r.cost.scanned), (1, 0))
        r.rows[0][0]["type"] = "changed"
        self.assertNotEqual(n.get("type"), "changed")
        # :Segment is the same node set
        r = self.run_q("MATCH (n:Segment) WHERE n.bodyId = %d RETURN n.type AS t"
                       % n["bodyId"])
        self.assertEqual(r.rows, [[n.get("type")]])
        # bodyId index with duplicate, missing and null ids
        r = self.run_q("MATCH (n:Neuron) WHERE n.bodyId IN [%d, 1, %d, null] "
                       "RETURN n.bodyId AS b" % (ids[0], ids[0]))
        self.assertEqual((r.rows, r.cost.matched), ([[ids[0]]], 1))
        # float equal to an int body id
        r = self.run_q("MATCH (n:Neuron) WHERE %d.0 = n.bodyId RETURN n.bodyId"
                       % ids[1])
        self.assertEqual(r.rows, [[ids[1]]])


# CELLS as quickpage sends it today (docs/queries.md), beside the older CELLS_Q
CELLS2_Q = ("UNWIND %s AS t MATCH (n:Neuron) WHERE n.type = t RETURN n.type AS type, "
            "n.rootSide AS rootSide, n.somaSide AS somaSide, n.side AS side, n.instance AS "
            "instance, n.consensusNt AS nt, coalesce(n.celltypePredictedNt, n.predictedNt) AS "
            "pnt, n.dimorphism AS dimorphism, n.synonyms AS synonyms, min(n.bodyId) AS first, "
            "count(n) AS cells, sum(n.pre) AS pre, sum(n.post) AS post, "
            "collect(DISTINCT n.superclass) AS superclass, collect(DISTINCT n.class) AS class, "
            "collect(DISTINCT n.subclass) AS subclass, collect(DISTINCT n.flywireType) AS "
            "flywireType, collect(DISTINCT n.somaNeuromere) AS somaNeuromere, "
            "collect(DISTINCT n.trumanHl) AS trumanHl")


class Memoized(Base):
    """execute(..., memo=Memo()), as the server runs queries: the batched
    per-type queries are answered per type from the memo, with the answer
    and the cost counters of the plain run, whatever batches the types come
    in; every other query runs as without a memo."""

    def same(self, text, memo):
        try:
            want = execute(self.ds, text)
        except CypherError as e:
            with self.assertRaises(CypherError) as cm:
                execute(self.ds, text, memo=memo)
            self.assertEqual(cm.exception.message, e.message)
            return None
        got = execute(self.ds, text, memo=memo)
        self.assertEqual(got.columns, want.columns, text)
        self.assertEqual(got.rows, want.rows, text)
        self.assertEqual(json.dumps(got.rows), json.dumps(want.rows), text)
        self.assertEqual(got.cost.as_dict(), want.cost.as_dict(), text)
        return got

    def batches(self, seed):
        rng = random.Random(seed)
        names = TYPES + ["not a type", "LC10", "t4"]
        out = []
        for _ in range(12):
            b = rng.sample(names, rng.randint(1, len(names)))
            out.append(b)
        return out + [[t] for t in names]

    def test_product_queries_split_and_match(self):
        primary = self.ds.meta["primaryRois"]
        self.ds.neurons[0]["synonyms"] = "x: y"
        self.ds.neurons[1]["superclass"] = ["a list", 1]   # collect(DISTINCT) keys
        for shape in (CELLS_Q, CELLS2_Q, ROIS_Q):
            memo = cypher.Memo()
            for rep in range(2):          # the second pass is answered from the memo
                for b in self.batches(rep):
                    for quote in (q1, q2):
                        text = (shape % (qlist(b, quote), qlist(primary)) if shape is ROIS_Q
                                else shape % qlist(b, quote))
                        self.assertIsNotNone(cypher._get(text).split, text)
                        self.same(text, memo)
            self.assertGreater(memo.hits, memo.misses)

    def test_others_unsplit_and_match(self):
        lst = qlist(TYPES[:6] + ["nope"])
        texts = [
            CELLS_Q % qlist(["LC10a", "T4", "LC10a"]),      # a type twice: counted twice
            # groups that hold several types
            "UNWIND %s AS t MATCH (n:Neuron) WHERE n.type = t RETURN n.somaSide AS s, "
            "count(n) AS c" % lst,
            "UNWIND %s AS t MATCH (n:Neuron) WHERE n.type = t RETURN count(n) AS c" % lst,
            "UNWIND %s AS t MATCH (n:Neuron) WHERE n.type = t WITH n.somaSide AS type "
            "RETURN type, count(*) AS c" % lst,
            # order, paging, distinct, aggregates before the last clause
            "UNWIND %s AS t MATCH (n:Neuron) WHERE n.type = t RETURN n.type AS type, "
            "count(n) AS c ORDER BY c DESC, type" % lst,
            "UNWIND %s AS t MATCH (n:Neuron) WHERE n.type = t RETURN n.type AS type, "
            "count(n) AS c LIMIT 2" % lst,
            "UNWIND %s AS t MATCH (n:Neuron) WHERE n.type = t RETURN DISTINCT n.type AS "
            "type, count(n) AS c" % lst,
            "UNWIND %s AS t MATCH (n:Neuron) WHERE n.type = t WITH n.type AS type, count(n) "
            "AS c RETURN type, sum(c) AS s" % lst,
            "UNWIND %s AS t MATCH (n:Neuron) WHERE n.type = t MATCH (m:Neuron) WHERE "
            "m.type = n.type RETURN n.type AS type, count(m) AS c" % lst,
            # not the type index on the UNWIND element
            "UNWIND %s AS t MATCH (n:Neuron) WHERE n.instance = t RETURN n.type AS type, "
            "count(n) AS c" % lst,
            "UNWIND %s AS t MATCH (n:Neuron) WHERE n.type = t AND n.pre > 10 RETURN "
            "n.type AS type, count(n) AS c" % lst,
            "UNWIND [1, 2] AS t MATCH (n:Neuron) WHERE n.type = t RETURN n.type AS type, "
            "count(n) AS c",
            # no aggregate: no grouping to rely on
            "UNWIND %s AS t MATCH (n:Neuron) WHERE n.type = t RETURN n.type AS type" % lst,
        ]
        memo = cypher.Memo()
        for text in texts:
            self.assertIsNone(cypher._get(text).split, text)
            for _ in range(2):
                self.same(text, memo)
        self.assertEqual((memo.hits, memo.misses, memo.rows), (0, 0, 0))

    def test_split_shapes_with_t_and_aliases(self):
        lst = qlist(TYPES[:7] + ["nope"])
        texts = [
            "UNWIND %s AS t MATCH (n:Neuron) WHERE t = n.type RETURN t, n.somaSide AS s, "
            "count(n) AS c, collect(n.bodyId) AS ids" % lst,
            "UNWIND %s AS t MATCH (n:Neuron) WHERE n.type = t WITH n AS m, n.type AS ty "
            "WITH m, ty AS k WHERE m.pre > 100 RETURN k, avg(m.post) AS a, max(m.bodyId) "
            "AS b" % lst,
            "UNWIND %s AS t MATCH (n:Neuron) WHERE n.type = t WITH n RETURN n.type AS ty, "
            "min(n.instance) AS i" % lst,
        ]
        memo = cypher.Memo()
        for text in texts:
            self.assertIsNotNone(cypher._get(text).split, text)
            for _ in range(2):
                self.same(text, memo)
        self.assertGreater(memo.hits, 0)

    def test_error_same_message(self):
        text = ("UNWIND %s AS t MATCH (n:Neuron) WHERE n.type = t RETURN n.type AS type, "
                "sum(n.instance) AS s" % qlist(TYPES[:3]))
        self.assertIsNotNone(cypher._get(text).split)
        memo = cypher.Memo()
        for _ in range(2):
            self.assertIsNone(self.same(text, memo))

    def test_memo_bounded_by_rows(self):
        memo = cypher.Memo(max_rows=3)
        for rep in range(2):
            for t in TYPES:
                self.same(CELLS_Q % qlist([t]), memo)
                self.assertLessEqual(memo.rows, 3)


class Literals(Base):
    def test_escapes_both_quotes(self):
        r = self.run_q(r"""RETURN 'a\'b' AS a, "a\"b" AS b, 'a"b' AS c, "a'b" AS d, """
                       r"""'\\' AS e, "\\" AS f, '\n\r\t\b\f' AS g, "\n\r\t\b\f" AS h, """
                       r"""'\u00e9\u20AC' AS i, "\u00E9" AS j, '' AS k, "" AS l""")
        self.assertEqual(r.rows, [["a'b", 'a"b', 'a"b', "a'b", "\\", "\\",
                                   "\n\r\t\b\f", "\n\r\t\b\f", "\u00e9\u20ac",
                                   "\u00e9", "", ""]])

    def test_surrogate_pair_and_raw_newline(self):
        r = self.run_q("RETURN '\\ud83d\\ude00' AS s, 'x\ny' AS t")
        self.assertEqual(r.rows, [["\U0001F600", "x\ny"]])

    def test_every_type_name_roundtrip(self):
        for t in TYPES:
            for quote in (q1, q2):
                self.assertEqual(self.rows("RETURN %s AS t" % quote(t)), [[t]])

    def test_numbers_booleans_null_lists_maps(self):
        r = self.run_q("RETURN 1 AS i, -2 AS n, 1.5 AS f, .5 AS g, 1e3 AS e, "
                       "0x1F AS h, true AS t, FALSE AS f2, null AS z, [1, 'a', "
                       "[null]] AS l, {a: 1, `b c`: [2], d: {e: 'x'}} AS m, [] AS "
                       "empty, -9223372036854775808 AS minint")
        self.assertEqual(r.rows, [[1, -2, 1.5, 0.5, 1000.0, 31, True, False, None,
                                   [1, "a", [None]], {"a": 1, "b c": [2],
                                                      "d": {"e": "x"}}, [],
                                   -9223372036854775808]])

    def test_arithmetic_and_concat(self):
        r = self.run_q("RETURN 1 + 2 * 3 AS a, (1 + 2) * 3 AS b, 7 / 2 AS c, "
                       "-7 / 2 AS d, 7 % 3 AS e, 7.0 / 2 AS f, 'a' + 'b' AS g, "
                       "'n' + 1 AS h, [1] + [2, 3] AS i, [1] + 2 AS j, 1 + null AS k, "
                       "2 ^ 3 AS l, - (3) AS m")
        self.assertEqual(r.rows, [[7, 9, 3, -3, 1, 3.5, "ab", "n1", [1, 2, 3],
                                   [1, 2], None, 8.0, -3]])

    def test_functions(self):
        r = self.run_q("WITH {b: 1, a: [1, 2, 3]} AS m, 'MiXed' AS s "
                       "RETURN keys(m) AS k, size(m.a) AS n, size(s) AS ns, "
                       "toLower(s) AS lo, toUpper(s) AS up, coalesce(null, m.zz, "
                       "s) AS co, m['a'][-1] AS last, m.a[5] AS oob, "
                       "apoc.convert.fromJsonMap('{\"x\": [1]}') AS j, "
                       "apoc.convert.fromJsonList('[1, {\"y\": 2}]') AS jl, "
                       "toString(3) AS ts, toInteger('42') AS ti, toFloat('2.5') AS tf, "
                       "head(m.a) AS h, last(m.a) AS l2, size(null) AS sn, "
                       "keys(null) AS kn, toLower(null) AS ln")
        self.assertEqual(r.rows, [[["b", "a"], 3, 5, "mixed", "MIXED", "MiXed", 3,
                                   None, {"x": [1]}, [1, {"y": 2}], "3", 42, 2.5,
                                   1, 3, None, None, None]])
        self.assertEqual(r.cost.json_parsed, 2)

    def test_function_names_case_insensitive(self):
        r = self.run_q("MATCH (n:Neuron) RETURN COUNT(*) AS a, Count(n) AS b, "
                       "TOLOWER('A') AS c")
        self.assertEqual(r.rows, [[len(self.ds.neurons), len(self.ds.neurons), "a"]])


class Semantics(Base):
    def test_implicit_grouping(self):
        r = self.run_q("MATCH (n:Neuron) RETURN n.somaSide AS side, count(*) AS c, "
                       "count(n.consensusNt) AS withNt, sum(n.pre) AS pre, "
                       "min(n.pre) AS lo, max(n.pre) AS hi, avg(n.post) AS av, "
                       "collect(DISTINCT n.status) AS st, count(DISTINCT n.type) AS "
                       "nt, collect(n.consensusNt) AS nts")
        groups = {}
        for n in self.ds.neurons:
            groups.setdefault(n.get("somaSide"), []).append(n)
        exp = []
        for side, ns in groups.items():
            st = []
            for n in ns:
                if n["status"] not in st:
                    st.append(n["status"])
            exp.append([side, len(ns), sum(1 for n in ns if "consensusNt" in n),
                        sum(n["pre"] for n in ns), min(n["pre"] for n in ns),
                        max(n["pre"] for n in ns),
                        sum(n["post"] for n in ns) / len(ns), st,
                        len({n["type"] for n in ns if "type" in n}),
                        [n["consensusNt"] for n in ns if "consensusNt" in n]])
        self.assertEqual(r.rows, exp)
        self.assertEqual(r.cost.scanned, len(self.ds.neurons))

    def test_grouping_key_expression_and_agg_expression(self):
        r = self.run_q("MATCH (n:Neuron) WHERE n.type IN ['LC10a', 'T4'] "
                       "RETURN toLower(n.type) AS t, count(*) * 10 + 1 AS x")
        exp = {}        # index order: the IN list's order
        for t in ("LC10a", "T4"):
            for n in self.ds.neurons:
                if n.get("type") == t:
                    exp[t.lower()] = exp.get(t.lower(), 0) + 1
        self.assertEqual(r.rows, [[k, v * 10 + 1] for k, v in exp.items()])
        self.assertEqual(r.cost.matched, sum(exp.values()))
        self.assertEqual(r.cost.scanned, 0)

    def test_aggregate_without_rows(self):
        r = self.run_q("MATCH (n:Neuron) WHERE n.type = 'nope' RETURN count(n) AS c, "
                       "sum(n.pre) AS s, collect(n.bodyId) AS l, min(n.pre) AS m, "
                       "avg(n.pre) AS a, count(*) AS cs")
        self.assertEqual(r.rows, [[0, 0, [], None, None, 0]])
        r = self.run_q("MATCH (n:Neuron) WHERE n.type = 'nope' RETURN n.type AS t, "
                       "count(n) AS c")
        self.assertEqual(r.rows, [])

    def test_sum_ignores_nulls_and_count_ignores_nulls(self):
        r = self.run_q("UNWIND [1, null, 2.5, null] AS x RETURN sum(x) AS s, "
                       "count(x) AS c, count(*) AS a, collect(x) AS l, avg(x) AS v")
        self.assertEqual(r.rows, [[3.5, 2, 4, [1, 2.5], 1.75]])

    def test_distinct(self):
        r = self.run_q("MATCH (n:Neuron) RETURN DISTINCT n.somaSide AS s, n.status AS st")
        exp = []
        for n in self.ds.neurons:
            k = [n.get("somaSide"), n["status"]]
            if k not in exp:
                exp.append(k)
        self.assertEqual(r.rows, exp)
        r = self.run_q("UNWIND [1, 1.0, true, '1', [1], [1], null, null] AS x "
                       "RETURN DISTINCT x")
        self.assertEqual(r.rows, [[1], [True], ["1"], [[1]], [None]])
        r = self.run_q("UNWIND [1, 2, 2, 3, 3] AS x WITH DISTINCT x AS y "
                       "RETURN collect(y) AS l")
        self.assertEqual(r.rows, [[[1, 2, 3]]])

    def test_order_by_skip_limit(self):
        r = self.run_q("MATCH (n:Neuron) RETURN n.bodyId AS b, n.pre AS p "
                       "ORDER BY n.pre DESC, b SKIP 2 LIMIT 5")
        exp = sorted(([n["bodyId"], n["pre"]] for n in self.ds.neurons),
                     key=lambda r: (-r[1], r[0]))[2:7]
        self.assertEqual(r.rows, exp)
        # nulls last ascending, first descending; mixed types by orderability
        r = self.rows("UNWIND [3, null, 'b', 1.5, 'a', true] AS x RETURN x ORDER BY x")
        self.assertEqual(r, [["a"], ["b"], [True], [1.5], [3], [None]])
        r = self.rows("UNWIND [3, null, 1] AS x RETURN x ORDER BY x DESC")
        self.assertEqual(r, [[None], [3], [1]])
        # order by an aggregate and by a grouping expression
        r = self.rows("MATCH (n:Neuron) WHERE n.type IS NOT NULL RETURN n.type AS t, "
                      "count(*) AS c ORDER BY c DESC, n.type LIMIT 3")
        counts = {}
        for n in self.ds.neurons:
            if "type" in n:
                counts[n["type"]] = counts.get(n["type"], 0) + 1
        exp = sorted(([t, c] for t, c in counts.items()), key=lambda r: (-r[1], r[0]))
        self.assertEqual(r, exp[:3])
        r = self.rows("MATCH (n:Neuron) RETURN DISTINCT n.status AS s ORDER BY s DESC")
        self.assertEqual(r, [["Traced"], ["Anchor"]])
        self.assertEqual(self.rows("UNWIND [1,2,3] AS x RETURN x LIMIT 0"), [])

    def test_limit_stops_the_scan(self):
        r = self.run_q("MATCH (n:Neuron) RETURN n.bodyId AS b LIMIT 3")
        self.assertEqual(r.rows, [[n["bodyId"]] for n in self.ds.neurons[:3]])
        self.assertEqual(r.cost.scanned, 3)

    def test_nulls(self):
        nos = [n for n in self.ds.neurons if "somaSide" not in n]
        self.assertTrue(nos)
        r = self.rows("MATCH (n:Neuron) WHERE n.somaSide IS NULL RETURN n.bodyId, "
                      "n.somaSide, n.nonexistent")
        self.assertEqual(r, [[n["bodyId"], None, None] for n in nos])
        self.assertEqual(self.rows("MATCH (n:Neuron) WHERE n.somaSide = null "
                                   "RETURN n.bodyId"), [])
        self.assertEqual(self.rows("MATCH (n:Neuron) WHERE n.somaSide <> 'L' AND "
                                   "n.somaSide <> 'R' AND n.somaSide <> 'M' "
                                   "RETURN n.bodyId"), [])
        r = self.rows("MATCH (n:Neuron) WHERE NOT n.somaSide = 'L' RETURN n.bodyId")
        self.assertEqual(r, [[n["bodyId"]] for n in self.ds.neurons
                             if n.get("somaSide") in ("R", "M")])
        r = self.rows("MATCH (n:Neuron) WHERE NOT (n.somaSide IN ['L', 'R']) "
                      "RETURN n.bodyId")
        self.assertEqual(r, [[n["bodyId"]] for n in self.ds.neurons
                             if n.get("somaSide") == "M"])
        r = self.rows("RETURN null = null AS a, null <> 1 AS b, 1 IN [2, null] AS c, "
                      "1 IN [1, null] AS d, null IN [] AS e, NOT null AS f, "
                      "null OR true AS g, null AND false AS h, null IS NULL AS i, "
                      "coalesce(null, null) AS j, 1 < 'a' AS k, [1, 2] = [1, 2] AS l")
        self.assertEqual(r, [[None, None, None, True, False, None, True, False, True,
                              None, None, True]])

    def test_where_boolean_logic(self):
        r = self.rows("MATCH (n:Neuron) WHERE (n.somaSide = 'L' OR n.somaSide = 'R') "
                      "AND NOT n.status = 'Anchor' AND n.pre >= 100 AND n.pre < 300 "
                      "RETURN n.bodyId")
        exp = [[n["bodyId"]] for n in self.ds.neurons
               if n.get("somaSide") in ("L", "R") and n["status"] != "Anchor"
               and 100 <= n["pre"] < 300]
        self.assertEqual(r, exp)
        r = self.rows("MATCH (n:Neuron) WHERE n.instance STARTS WITH 'LC' OR "
                      "n.instance ENDS WITH '_M' OR n.instance CONTAINS '(' "
                      "RETURN n.bodyId")
        exp = [[n["bodyId"]] for n in self.ds.neurons
               if n["instance"].startswith("LC") or n["instance"].endswith("_M")
               or "(" in n["instance"]]
        self.assertEqual(r, exp)

    def test_with_where_and_chained_match(self):
        t = "LC10a"
        r = self.run_q("MATCH (n:Neuron) WHERE n.type = '%s' WITH n, n.pre AS p "
                       "WHERE p > 100 MATCH (m:Neuron) WHERE m.bodyId = n.bodyId "
                       "RETURN m.bodyId AS b, p" % t)
        exp = [[n["bodyId"], n["pre"]] for n in self.ds.neurons
               if n.get("type") == t and n["pre"] > 100]
        self.assertEqual(r.rows, exp)
        self.assertEqual(r.cost.matched, len(self.ds.by_type[t]) + len(exp))
        r = self.run_q("MATCH (n:Neuron) WITH n.somaSide AS s, count(*) AS c WHERE "
                       "c > 1 RETURN s, c ORDER BY s")
        self.assertTrue(all(row[1] > 1 for row in r.rows))

    def test_unwind(self):
        self.assertEqual(self.rows("UNWIND null AS x RETURN x"), [])
        self.assertEqual(self.rows("UNWIND [] AS x RETURN x"), [])
        self.assertEqual(self.rows("UNWIND 5 AS x RETURN x"), [[5]])
        self.assertEqual(self.rows("UNWIND [[1, 2], [3]] AS x UNWIND x AS y "
                                   "RETURN y"), [[1], [2], [3]])
        self.assertEqual(self.rows("WITH [1, 2] AS l UNWIND l AS x RETURN x + 1 AS y"),
                         [[2], [3]])

    def test_type_in_list_uses_index(self):
        batch = ["LC10a", "T4", "LC10a", "missing", None]
        r = self.run_q("MATCH (n:Neuron) WHERE n.type IN ['LC10a', 'T4', 'LC10a', "
                       "'missing', null] RETURN n.bodyId AS b")
        exp = [[n["bodyId"]] for t in ("LC10a", "T4") for n in self.ds.by_type[t]]
        self.assertEqual(r.rows, exp)
        self.assertEqual((r.cost.matched, r.cost.scanned), (len(exp), 0))
        del batch

    def test_index_vs_scan_counters(self):
        n_all = len(self.ds.neurons)
        lc = len(self.ds.by_type["LC10a"])
        cases = [
            ("MATCH (n:Neuron) WHERE n.type = 'LC10a' RETURN n.bodyId", 0, lc),
            ("MATCH (n:Neuron {type: 'LC10a'}) RETURN n.bodyId", 0, lc),
            ("MATCH (n:Neuron) WHERE 'LC10a' = n.type AND n.pre > -1 RETURN n.bodyId",
             0, lc),
            ("MATCH (n:Neuron) WHERE toLower(n.type) = 'lc10a' RETURN n.bodyId",
             n_all, 0),
            ("MATCH (n:Neuron) WHERE n.type = 'LC10a' OR n.type = 'T4' RETURN n.bodyId",
             n_all, 0),
            ("MATCH (n:Neuron) RETURN DISTINCT n.type", n_all, 0),
            ("MATCH (n:Neuron) RETURN count(n)", n_all, 0),
            ("UNWIND ['LC10a', 'T4'] AS t MATCH (n:Neuron) WHERE n.type = t "
             "RETURN n.bodyId", 0, lc + len(self.ds.by_type["T4"])),
            ("UNWIND ['LC10a', 'T4'] AS t MATCH (n:Neuron) WHERE n.instance = t "
             "RETURN n.bodyId", 2 * n_all, 0),
            ("MATCH (m:Meta) RETURN m.uuid", 0, 0),
        ]
        for text, scanned, matched in cases:
            c = self.run_q(text).cost
            self.assertEqual((c.scanned, c.matched), (scanned, matched), text)

    def test_json_parsed(self):
        r = self.run_q("MATCH (n:Neuron) WHERE n.type = 'T4' "
                       "RETURN apoc.convert.fromJsonMap(n.roiInfo) AS ri")
        self.assertEqual(r.rows, [[json.loads(n["roiInfo"])]
                                  for n in self.ds.by_type["T4"]])
        self.assertEqual(r.cost.json_parsed, len(self.ds.by_type["T4"]))
        r = self.run_q("MATCH (n:Neuron) WHERE n.type = 'T4' RETURN n.roiInfo AS ri")
        self.assertEqual(r.cost.json_parsed, 0)

    def test_column_names(self):
        r = self.run_q("MATCH (n:Neuron) WHERE n.type = 'T4' RETURN n.type, "
                       "count( * ), n.somaSide AS side, toLower(n.type)")
        self.assertEqual(r.columns, ["n.type", "count( * )", "side",
                                     "toLower(n.type)"])
        r = self.run_q("UNWIND [1] AS type RETURN type, `type` AS t2")
        self.assertEqual(r.columns, ["type", "t2"])

    def test_keywords_case_insensitive(self):
        a = self.rows(CELLS_Q % qlist(TYPES))
        b = self.rows(CELLS_Q.replace("UNWIND", "unwind").replace(" AS ", " as ")
                      .replace("MATCH", "Match").replace("WHERE", "wHeRe")
                      .replace("RETURN", "return") % qlist(TYPES))
        self.assertEqual(a, b)
        self.assertEqual(self.rows("match (n:Neuron) where n.type is not null return "
                                   "distinct n.type as type order by type desc limit 1"),
                         [[max(t for t in TYPES)]])

    def test_comments_and_semicolon(self):
        r = self.rows("// header\nMATCH (m:Meta) /* block\ncomment */ RETURN m.uuid "
                      "AS u;")
        self.assertEqual(r, [["abc123"]])

    def test_results_json_ready_and_fresh(self):
        text = "MATCH (n:Neuron) WHERE n.type = 'T4' RETURN n, collect(n) AS ns"
        r1 = self.run_q(text)
        json.dumps(r1.rows)
        r1.rows[0][1][0]["bodyId"] = -1
        r2 = self.run_q(text)
        self.assertNotEqual(r2.rows[0][1][0]["bodyId"], -1)
        self.assertEqual(r2.cost.matched, len(self.ds.by_type["T4"]))

    def test_runtime_type_errors(self):
        for text, frag in (("RETURN 1 + {a: 1} AS x", "Type mismatch"),
                           ("MATCH (n:Neuron) RETURN sum(n.type) AS s", "Type mismatch"),
                           ("RETURN 1 / 0 AS x", "/ by zero"),
                           ("RETURN 1 IN 2 AS x", "Type mismatch"),
                           ("RETURN apoc.convert.fromJsonMap('[1]') AS x",
                            "apoc.convert.fromJsonMap"),
                           ("RETURN apoc.convert.fromJsonMap('{') AS x",
                            "apoc.convert.fromJsonMap"),
                           ("WITH 5 AS x RETURN x.foo", "Type mismatch")):
            self.assertCypherError(text, frag, ds=self.ds)


class Errors(Base):
    def test_syntax_error_position(self):
        msg = self.assertCypherError("MATCH (n:Neuron) RETRN n",
                                     "Invalid input 'RETRN'",
                                     "(line 1, column 18 (offset: 17))")
        self.assertTrue(msg.startswith("Invalid input 'RETRN': expected "), msg)
        self.assertIn('\n"MATCH (n:Neuron) RETRN n"\n' + " " * 18 + "^", msg)
        self.assertCypherError("MATCH (m:Meta)\nRETURN m.uuid AS\n", "end of input",
                               "line 3, column 1 (offset: 32)")
        self.assertCypherError("MATCH (n:Neuron) WHERE n.type = RETURN n",
                               "Invalid input 'RETURN': expected an expression",
                               "column 33 (offset: 32)")
        self.assertCypherError("RETURN 'abc", "Failed to parse string literal",
                               "column 8 (offset: 7)")
        self.assertCypherError("RETURN 'a\\qb'", "invalid escape sequence")
        self.assertCypherError("RETURN [1, 2", "Unexpected end of input")
        self.assertCypherError("FOO bar", "Invalid input 'FOO'",
                               "(line 1, column 1 (offset: 0))")
        self.assertCypherError("", "Unexpected end of input")

    def test_unknown_function(self):
        self.assertCypherError("MATCH (n:Neuron) RETURN foo(n.type)",
                               "Unknown function 'foo'", "column 25 (offset: 24)")
        self.assertCypherError("RETURN apoc.text.join(['a'], ',')",
                               "Unknown function 'apoc.text.join'")
        self.assertCypherError("RETURN size(1, 2)", "Too many parameters")
        self.assertCypherError("RETURN toLower()", "Insufficient parameters")

    def test_write_and_unsupported_clauses_not_executed(self):
        for text in ("CREATE (n:Neuron {bodyId: 1}) RETURN n",
                     "MATCH (n:Neuron) DELETE n",
                     "MATCH (n:Neuron) DETACH DELETE n",
                     "MERGE (n:Neuron {bodyId: 1})",
                     "MATCH (n:Neuron) SET n.type = 'x' RETURN n",
                     "MATCH (n:Neuron) REMOVE n.type",
                     "LOAD CSV FROM 'x' AS l RETURN l",
                     "MATCH (n:Neuron) WHERE n.type = 'T4' RETURN n UNION "
                     "MATCH (n:Neuron) RETURN n",
                     "CALL db.labels()",
                     "OPTIONAL MATCH (n:Neuron) RETURN n",
                     "MATCH (n:Neuron) FOREACH (x IN [1] | SET n.a = x)"):
            msg = self.assertCypherError(text, "Invalid input")
            self.assertIn("not supported", msg, text)
        before = json.dumps(self.ds.neurons)
        self.assertCypherError("MATCH (n:Neuron) WHERE n.type = 'T4' SET n.type = 'x' "
                               "RETURN n", "write clauses", ds=self.ds)
        self.assertEqual(json.dumps(self.ds.neurons), before)

    def test_unsupported_constructs(self):
        for text, frag in (
                ("MATCH (a:Neuron)-[:ConnectsTo]->(b:Neuron) RETURN a",
                 "relationship patterns"),
                ("MATCH (n) RETURN n", "needs a label"),
                ("MATCH (n:Synapse) RETURN n", "Unknown label ':Synapse'"),
                ("MATCH p = (n:Neuron) RETURN p", "named paths"),
                ("MATCH (n:Neuron) WHERE n.bodyId = $id RETURN n",
                 "Expected parameter(s): id"),
                ("MATCH (n:Neuron) WHERE n.type =~ 'LC.*' RETURN n",
                 "regular expressions"),
                ("RETURN [x IN [1, 2] | x] AS l", "list comprehensions"),
                ("MATCH (n:Neuron) WHERE n.type != 'x' RETURN n", "'<>'"),
                ("RETURN [1, 2][0..1] AS l", "slices")):
            self.assertCypherError(text, frag)

    def test_semantic_errors(self):
        for text, frag in (
                ("MATCH (n:Neuron) RETURN m.type", "Variable `m` not defined"),
                ("MATCH (n:Neuron) WITH n.type RETURN n", "must be aliased"),
                ("MATCH (n:Neuron) WITH n.type AS t RETURN n",
                 "Variable `n` not defined"),
                ("MATCH (n:Neuron) RETURN n.type AS a, n.pre AS a",
                 "Multiple result columns"),
                ("MATCH (n:Neuron)", "Query cannot conclude with MATCH"),
                ("MATCH (n:Neuron) WHERE count(n) > 1 RETURN n",
                 "Invalid use of aggregating function"),
                ("MATCH (n:Neuron) RETURN count(count(n))",
                 "inside of aggregate functions"),
                ("MATCH (n:Neuron) RETURN n.type AS t, n.pre + count(*) AS x",
                 "implicit grouping"),
                ("MATCH (n:Neuron) RETURN n.type AS t, count(*) AS c ORDER BY n.pre",
                 "not possible to access variables"),
                ("MATCH (n:Neuron) MATCH (n:Neuron) RETURN n", "already declared"),
                ("MATCH (n:Neuron) RETURN n LIMIT -1", "non-negative integer"),
                ("MATCH (n:Neuron) RETURN n LIMIT n.pre", "not allowed to refer"),
                ("RETURN 1 AS x MATCH (n:Neuron) RETURN n",
                 "RETURN can only be used at the end"),
                ("RETURN 1; RETURN 2", "end of input"),
                ("RETURN 9223372036854775808", "integer is too large"),
                ("RETURN size(DISTINCT 'x')", "Invalid use of DISTINCT")):
            self.assertCypherError(text, frag)

    def test_error_is_exception_with_message(self):
        try:
            execute(self.ds, "MATCH (n:Neuron RETURN n")
        except CypherError as ex:
            self.assertIsInstance(ex.message, str)
            self.assertIn("line 1", ex.message)
        else:
            self.fail("no error")


# neuView's get_soma_sides_for_type (reiserlab/neuView, src/neuview/neuprint_connector.py)
# and the count query of its neuron selection (services/neuron_selection_service.py),
# as their f-strings produce them
SOMA_SIDE_Q = """
            MATCH (n:Neuron)
            WHERE n.type = "%s" AND (n.rootSide IS NOT NULL OR n.somaSide IS NOT NULL)
            RETURN DISTINCT
                CASE
                    WHEN n.rootSide IS NOT NULL THEN n.rootSide
                    ELSE n.somaSide
                END as soma_side
            ORDER BY soma_side
            """
SIDE_COUNT_Q = """
                        MATCH (n:Neuron)
                        WHERE n.type = "%s"
                        WITH n,
                            CASE
                                WHEN n.rootSide IS NOT NULL THEN n.rootSide
                                WHEN n.somaSide IS NOT NULL THEN n.somaSide
                                WHEN n.side IS NOT NULL THEN
                                    CASE n.side
                                        WHEN 'left' THEN 'L'
                                        WHEN 'right' THEN 'R'
                                        WHEN 'center' THEN 'M'
                                        ELSE n.side
                                    END
                                ELSE NULL
                            END as normalizedSide
                        RETURN
                            COUNT(CASE WHEN normalizedSide = 'L' THEN 1 END) as leftCount,
                            COUNT(CASE WHEN normalizedSide = 'R' THEN 1 END) as rightCount,
                            COUNT(CASE WHEN normalizedSide = 'M' THEN 1 END) as middleCount,
                            COUNT(*) as totalCount
"""


def dq(s):
    return s.replace("\\", "\\\\").replace('"', '\\"')


def neuview_side(n):
    if n.get("rootSide") is not None:
        return n["rootSide"]
    if n.get("somaSide") is not None:
        return n["somaSide"]
    return {"left": "L", "right": "R", "center": "M"}.get(n.get("side"), n.get("side"))


class CaseAndProperties(Base):
    """What neuView asks beyond quickpage's subset: CASE (its soma-side
    queries) and properties(m) (create-list's Meta query)."""

    def sided(self):
        """The fake neurons with a rootSide that disagrees with somaSide on
        some, and FlyWire's `side` alone on others."""
        ns = []
        for i, n in enumerate(self.ds.neurons):
            n = dict(n)
            if i % 3 == 0:
                n["rootSide"] = "R" if n.get("somaSide") == "L" else "L"
            elif i % 5 == 1:
                n.pop("somaSide", None)
                n["side"] = ("left", "right", "center", "other")[i % 4]
            ns.append(n)
        return FakeDataset(ns, self.ds.meta)

    def test_neuview_soma_side_query(self):
        ds = self.sided()
        seen = set()
        for t in TYPES:
            r = self.run_q(SOMA_SIDE_Q % dq(t), ds)
            self.assertEqual(r.columns, ["soma_side"])
            want = sorted({n.get("rootSide") or n.get("somaSide") for n in ds.by_type[t]} - {None})
            self.assertEqual(r.rows, [[x] for x in want], t)
            seen.update(want)
        self.assertEqual(seen, {"L", "R", "M"})

    def test_neuview_side_count_query(self):
        ds = self.sided()
        for t in TYPES:
            sides = [neuview_side(n) for n in ds.by_type[t]]
            r = self.run_q(SIDE_COUNT_Q % dq(t), ds)
            self.assertEqual(r.columns, ["leftCount", "rightCount", "middleCount", "totalCount"])
            self.assertEqual(r.rows, [[sides.count("L"), sides.count("R"), sides.count("M"),
                                       len(sides)]], t)

    def test_case_semantics(self):
        self.assertEqual(self.rows("RETURN CASE WHEN null THEN 1 WHEN false THEN 2 "
                                   "WHEN 1 = 1 THEN 3 ELSE 4 END AS x"), [[3]])
        self.assertEqual(self.rows("RETURN CASE WHEN false THEN 1 END AS x"), [[None]])
        # only the chosen branch runs
        self.assertEqual(self.rows("RETURN CASE WHEN true THEN 1 ELSE 1 / 0 END AS x"), [[1]])
        # simple form: compared by =, so null matches nothing
        self.assertEqual(self.rows("RETURN CASE 2 WHEN 1 THEN 'a' WHEN 2.0 THEN 'b' END AS x, "
                                   "CASE null WHEN null THEN 'n' ELSE 'e' END AS y, "
                                   "CASE [1] WHEN [1] THEN 'l' END AS z"),
                         [["b", "e", "l"]])
        # in WHERE, grouping keys and ORDER BY
        r = self.rows("MATCH (n:Neuron) WHERE CASE n.somaSide WHEN 'L' THEN true ELSE false END "
                      "RETURN count(*) AS c")
        self.assertEqual(r, [[sum(1 for n in self.ds.neurons if n.get("somaSide") == "L")]])
        r = self.rows("MATCH (n:Neuron) RETURN CASE WHEN n.pre > 200 THEN 'big' ELSE 'small' END "
                      "AS k, count(*) AS c ORDER BY k")
        big = sum(1 for n in self.ds.neurons if n["pre"] > 200)
        self.assertEqual(r, [["big", big], ["small", len(self.ds.neurons) - big]])

    def test_case_errors(self):
        self.assertCypherError("RETURN CASE WHEN true THEN 1", "Unexpected end of input",
                               "'WHEN', 'ELSE' or 'END'")
        self.assertCypherError("RETURN CASE 1 ELSE 2 END", "Invalid input 'ELSE'", "'WHEN'")
        self.assertCypherError("RETURN CASE WHEN true 1 END", "'THEN'")
        self.assertCypherError("RETURN CASE WHEN true THEN 1 ELSE 2 AS x", "'END'")

    def test_properties_of_meta(self):
        r = self.run_q("MATCH (m:Meta)\nRETURN properties(m) as all_properties\nLIMIT 1")
        self.assertEqual(r.columns, ["all_properties"])
        self.assertEqual(r.rows, [[self.ds.meta]])
        r.rows[0][0]["uuid"] = "changed"                  # a copy
        self.assertEqual(self.ds.meta["uuid"], "abc123")

    def test_properties_of_neurons_and_maps(self):
        n = self.ds.neurons[4]
        r = self.run_q("MATCH (n:Neuron) WHERE n.bodyId = %d RETURN properties(n) AS p, "
                       "keys(properties(n)) AS k, properties(n).status AS s" % n["bodyId"])
        self.assertEqual(r.rows, [[n, list(n), n["status"]]])
        self.assertIsNot(r.rows[0][0], n)
        self.assertEqual(self.rows("RETURN properties({a: 1, b: [2]}) AS p, properties(null) AS q"),
                         [[{"a": 1, "b": [2]}, None]])
        self.assertCypherError("RETURN properties('x') AS p", "Type mismatch")
        self.assertCypherError("RETURN properties() AS p", "Insufficient parameters")
        # grouping on a map: one group per distinct property set
        r = self.rows("MATCH (n:Neuron) WHERE n.bodyId = %d RETURN properties(n) AS p, count(*) AS c"
                      % n["bodyId"])
        self.assertEqual(r, [[n, 1]])


class Shape(unittest.TestCase):
    def test_shape_of(self):
        self.assertEqual(shape_of(CELLS_Q % qlist(TYPES)), CELLS_Q % "[?]")
        self.assertEqual(shape_of(CELLS_Q % qlist(["x"], q2)), CELLS_Q % "[?]")
        self.assertEqual(shape_of(ROIS_Q % (qlist(TYPES), qlist(PRIMARY))),
                         ROIS_Q % ("[?]", "[?]"))
        self.assertEqual(shape_of(TYPE_Q % q1("KCa'b'-ap1")), TYPE_Q % "?")
        self.assertEqual(shape_of(TYPE_Q % q2("a\"b")), TYPE_Q % "?")
        self.assertEqual(shape_of(TYPES_Q), TYPES_Q)
        self.assertEqual(shape_of(FETCH_META_Q), " ".join(FETCH_META_Q.split()))
        self.assertEqual(shape_of("MATCH (n:Neuron {bodyId: 12})\n  RETURN n.pre + "
                                  "1.5, true, null, ri[roi], [[1], 2], n.x IS NULL "
                                  "LIMIT 10"),
                         "MATCH (n:Neuron {bodyId: ?}) RETURN n.pre + ?, ?, ?, "
                         "ri[roi], [?], n.x IS NULL LIMIT ?")
        self.assertEqual(shape_of("RETURN 'unterminated"), "RETURN 'unterminated")
        self.assertEqual(shape_of(CELLS_Q % qlist(TYPES[:2])),
                         shape_of(CELLS_Q % qlist(TYPES[2:])))


# --------------------------------------------------------------------------
# micro-benchmark: EMU_BENCH=1 python3 -m unittest tests.test_cypher.Bench -v

def synthetic(n_neurons=166000, n_types=11700, keys=12, n_rois=80, seed=1):
    rng = random.Random(seed)
    rois = ["R%02d(%s)" % (i, "LR"[i % 2]) for i in range(n_rois)]
    primary = rois[::2]
    types = []
    neurons = []
    bid = 10000
    i = 0
    while len(neurons) < n_neurons:
        t = "T%d" % i if i < n_types else "T%d" % rng.randrange(n_types)
        if i < n_types:
            types.append(t)
        i += 1
        size = min(3000, max(1, int(rng.paretovariate(1.1) * 3)))
        for _ in range(min(size, n_neurons - len(neurons))):
            ri = {r: {"pre": rng.randint(0, 50), "post": rng.randint(0, 90),
                      "downstream": 4, "upstream": 9}
                  for r in rng.sample(rois, keys)}
            bid += 1
            neurons.append({"bodyId": bid, "type": t, "instance": t + "_R",
                            "somaSide": "R", "status": "Traced", "pre": 5,
                            "post": 9, "consensusNt": "gaba",
                            "roiInfo": json.dumps(ri)})
    return FakeDataset(neurons, {"primaryRois": primary}), types, primary


@unittest.skipUnless(os.environ.get("EMU_BENCH") == "1", "set EMU_BENCH=1")
class Bench(unittest.TestCase):
    def test_bench(self):
        ds, types, primary = synthetic()
        for n in ds.neurons:         # the real Dataset caches parsed roiInfo
            ds.parsed_roi(n)
        batch = int(os.environ.get("EMU_BENCH_BATCH", "200"))
        report = []

        def timed(name, texts):
            cypher._CACHE.clear()
            t0 = time.process_time()
            reached = rows = 0
            for text in texts:
                r = execute(ds, text)
                reached += r.cost.matched + r.cost.scanned
                rows += len(r.rows)
            dt = time.process_time() - t0
            report.append("%-6s %4d queries %7d neurons %7d rows  %.3f s CPU"
                          % (name, len(texts), reached, rows, dt))
            return dt

        batches = [types[i:i + batch] for i in range(0, len(types), batch)]
        cells = timed("CELLS", [CELLS_Q % qlist(b) for b in batches])
        rois = timed("ROIS", [ROIS_Q % (qlist(b), qlist(primary)) for b in batches])
        scan = timed("TYPES", [TYPES_Q])
        one = timed("TYPE", [TYPE_Q % q1(t) for t in types[:2000]])
        sys.stderr.write("\n%d neurons, %d types, batch %d\n%s\n" % (
            len(ds.neurons), len(types), batch, "\n".join(report)))
        self.assertLess(rois, 2.0)
        self.assertLess(cells, 0.5)
        self.assertLess(scan, 0.3)
        del one


if __name__ == "__main__":
    unittest.main()
