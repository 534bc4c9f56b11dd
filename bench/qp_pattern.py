"""QuickPage's create-index, replayed request for request (issue 24).

QuickPage (floesche/neuView 56a65d8, src/quickpage/services.py
IndexService.create_index) scans the output directory for pages, then for
each type name, one after the other, calls neuprint-python: this module
sends the HTTP requests those calls send, in the same order, with the same
bodies, over one keep-alive connection as a requests.Session does, and
decides what comes next from the answers as QuickPage and the client do.
Python standard library only; nothing of theirs is imported or copied
except the query texts, which must be byte for byte what they send.

The client is neuprint-python 0.5.1, the version QuickPage's pixi.lock
pins. With versions=True each custom query is preceded by GET
/api/version, as neuprint-python 0.5.2 and later send it (fetch_custom ->
arrow_endpoint -> fetch_version, uncached); everything else is 0.5.1's.

What one type costs (create_index -> _get_roi_summary_for_neuron_type):
  1. fetch_neurons(NeuronCriteria(type=T)): one custom query; the first
     call also fetches the Meta and the :Neuron keys (both cached by the
     client afterwards).
  2. if neurons came back: the upstream-partner query; only if that one
     succeeds, the downstream-partner query (an error ends the pair).
  3. if the per-ROI table is not empty: fetch_roi_hierarchy (fetch_meta,
     not cached) for the primary ROIs.
  4. if the ROI table has upstream/downstream columns (pandas raises
     KeyError otherwise, which QuickPage swallows) and some primary ROI
     holds >= 1.5 % of the type's pre or post: fetch_roi_hierarchy again
     for the top ROI's parent.
Any exception ends the type, as QuickPage's try/except does.

QuickPage's own CPU (pandas, Jinja) is not replayed: the figures are the
network part, a lower bound of its run.
"""
import gzip
import http.client
import json
import math
import random
import re
import ssl
import statistics
import time
from textwrap import dedent, indent

# QuickPage's page pattern (services.py create_index): a stem, an optional
# _L/_R/_M; other names (spaces, dots, parentheses) are not types to it.
PAGE = re.compile(r'^([A-Za-z0-9_-]+?)(?:_([LRM]))?\.html$')

# neuprint-python 0.5.1 queries/neurons.py CORE_NEURON_COLS
CORE_COLS = ['bodyId', 'instance', 'type', 'pre', 'post', 'downstream', 'upstream', 'mito',
             'size', 'status', 'cropped', 'statusLabel', 'cellBodyFiber', 'somaRadius',
             'somaLocation', 'inputRois', 'outputRois', 'roiInfo']
COUNT_COLS = ['pre', 'post', 'downstream', 'upstream', 'mito']

# neuprint-python 0.5.1 utils.py: names that need backquotes
CYPHER_KEYWORDS = {
    "CALL", "CREATE", "DELETE", "DETACH", "FOREACH", "LOAD", "MATCH", "MERGE", "OPTIONAL",
    "REMOVE", "RETURN", "SET", "START", "UNION", "UNWIND", "WITH", "LIMIT", "ORDER", "SKIP",
    "WHERE", "YIELD", "ASC", "ASCENDING", "ASSERT", "BY", "CSV", "DESC", "DESCENDING", "ON",
    "ALL", "CASE", "COUNT", "ELSE", "END", "EXISTS", "THEN", "WHEN", "AND", "AS", "CONTAINS",
    "DISTINCT", "ENDS", "IN", "IS", "NOT", "OR", "STARTS", "XOR", "CONSTRAINT", "DROP", "INDEX",
    "NODE", "KEY", "UNIQUE", "JOIN", "SCAN", "USING", "FALSE", "NULL", "TRUE", "ADD", "DO",
    "FOR", "MANDATORY", "OF", "REQUIRE", "SCALAR"}
IDENT = re.compile(r'^[a-zA-Z_][a-zA-Z0-9_]*$')

# The texts as the client builds them, before its indent(dedent(...)).
NEURON_PROPS_Q = "MATCH (n:Meta) RETURN n.neuronProperties"
NEURON_KEYS_Q = """
            MATCH (n :Neuron) UNWIND KEYS(n) AS k RETURN DISTINCT k AS neuron_fields
            """
META_Q = """\
        MATCH (m:Meta)
        WITH m as m,
             apoc.convert.fromJsonMap(m.roiInfo) as roiInfo,
             apoc.convert.fromJsonMap(m.roiHierarchy) as roiHierarchy,
             apoc.convert.fromJsonMap(m.neuroglancerInfo) as neuroglancerInfo,
             apoc.convert.fromJsonList(m.neuroglancerMeta) as neuroglancerMeta,
             apoc.convert.fromJsonMap(m.statusDefinitions) as statusDefinitions
        RETURN m as meta, roiInfo, roiHierarchy, neuroglancerInfo, neuroglancerMeta, statusDefinitions
    """
# QuickPage neuprint_connector.py _get_connectivity_summary; {ids} is a
# Python list of ints as str() writes it.
UPSTREAM_Q = """
            MATCH (upstream:Neuron)-[c:ConnectsTo]->(target:Neuron)
            WHERE target.bodyId IN {ids} AND c.weight >= 5
            RETURN upstream.type as partner_type,
                    COALESCE(
                        upstream.somaSide,
                        apoc.coll.flatten(apoc.text.regexGroups(upstream.instance, '_([LR])$'))[1],
                        ''
                    ) as soma_side,
                   COALESCE(upstream.consensusNt, 'Unknown') as neurotransmitter,
                   SUM(c.weight) as total_weight,
                   COUNT(c) as connection_count
            ORDER BY total_weight DESC
            """
DOWNSTREAM_Q = """
            MATCH (source:Neuron)-[c:ConnectsTo]->(downstream:Neuron)
            WHERE source.bodyId IN {ids} AND c.weight >= 5
            RETURN downstream.type as partner_type,
                    COALESCE(
                        downstream.somaSide,
                        apoc.coll.flatten(apoc.text.regexGroups(downstream.instance, '_([LR])$'))[1],
                        ''
                    ) as soma_side,
                    COALESCE(downstream.consensusNt, 'Unknown') as neurotransmitter,
                    SUM(c.weight) as total_weight,
                    COUNT(c) as connection_count
            ORDER BY total_weight DESC
            """

# page_generator.py _get_primary_rois: added by the dataset's name, or
# the fallback when none is known
OPTIC_PRIMARY = {'ME(R)', 'ME(L)', 'LO(R)', 'LO(L)', 'LOP(R)', 'LOP(L)', 'AME(R)', 'AME(L)',
                 'LA(R)', 'LA(L)'}
CNS_PRIMARY = {'ME(R)', 'ME(L)', 'LO(R)', 'LO(L)', 'AL(R)', 'AL(L)', 'MB(R)', 'MB(L)',
               'CX', 'PB', 'FB', 'EB'}
HEMIBRAIN_PRIMARY = CNS_PRIMARY | {'LOP(R)', 'LOP(L)', 'NO'}
FALLBACK_PRIMARY = HEMIBRAIN_PRIMARY | {'BU(R)', 'BU(L)', 'LAL(R)', 'LAL(L)', 'ICL(R)', 'ICL(L)',
                                       'IB', 'ATL(R)', 'ATL(L)'}
THRESHOLD = 1.5     # IndexService: % of the type's pre or post in one ROI


def type_names(site):
    """The type names QuickPage's create-index asks for, in its order."""
    import os
    names = set()
    for f in os.listdir(site):
        m = PAGE.match(f)
        if m and m.group(1).lower() not in ('index', 'main'):
            names.add(m.group(1))
    return sorted(names)


def cypher_identifier(name):
    if name.upper() in CYPHER_KEYWORDS or not IDENT.match(name):
        return "`%s`" % name
    return name


def neurons_query(type_name, props):
    """fetch_neurons(NeuronCriteria(type=T)) for a name without regex
    characters (QuickPage's stems never have any): no WITH line, one
    condition."""
    ret = ',\n'.join('n.%s as %s' % (p, p) for p in props)
    ret = indent(ret, ' ' * 15)[15:]
    cond = ("WHERE \n          // -- Basic conditions for segment 'n' --\n"
            "          n.type = '%s'" % type_name)
    return ("        \n"
            "        MATCH (n :Neuron)\n"
            "        %s\n"
            "        RETURN %s\n"
            "        ORDER BY n.bodyId\n"
            "    ") % (cond, ret)


class Refused(Exception):
    """A non-200 answer (requests' raise_for_status)."""


class Wire:
    """One keep-alive HTTPS connection, used as neuprint-python's
    requests.Session uses its pool: one request at a time, reconnecting
    when the server has closed an idle connection."""

    def __init__(self, url, ca, token, versions=False):
        host, port = url[len("https://"):].rsplit(":", 1)
        self.host, self.port = host.strip("[]"), int(port)
        self.ctx = ssl.create_default_context(cafile=ca)
        self.headers = {"User-Agent": "python-requests/2.32.3",
                        "Accept-Encoding": "gzip, deflate", "Accept": "*/*",
                        "Connection": "keep-alive", "Authorization": "Bearer " + token,
                        "Content-type": "application/json"}
        self.versions = versions
        self.conn = None
        self.log = []           # (kind, status, body bytes, seconds, once)
        self.trace = None       # a list: (method, path, body) of each request
        self.reconnects = 0

    def close(self):
        if self.conn:
            self.conn.close()
            self.conn = None

    def _send(self, method, path, body):
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx,
                                                        timeout=3700)
            try:
                self.conn.request(method, path, body=body, headers=self.headers)
                r = self.conn.getresponse()
                return r, r.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt:
                    raise
                self.reconnects += 1

    def call(self, kind, method, path, body=None, once=False):
        if self.trace is not None:
            self.trace.append((method, path, body))
        t = time.monotonic()
        r, data = self._send(method, path, body)
        self.log.append((kind, r.status, len(data), time.monotonic() - t, once))
        if r.status != 200:
            raise Refused("%s %s: %d" % (method, path, r.status))
        if "gzip" in (r.getheader("Content-Encoding") or ""):
            data = gzip.decompress(data)
        return json.loads(data)

    def custom(self, kind, cypher, dataset, once=False):
        """Client.fetch_custom: the version probe (0.5.2+), then the query
        re-indented as the client re-indents every text."""
        if self.versions:
            try:
                self.call("version", "GET", "/api/version", once=once)
            except Exception:   # arrow_endpoint() swallows every error
                pass
        body = json.dumps({"cypher": indent(dedent(cypher), '    '), "dataset": dataset})
        return self.call(kind, "POST", "/api/custom/custom", body.encode(), once=once)


class QuickPage:
    """NeuPrintConnector + neuprint.Client state for one create-index."""

    def __init__(self, wire, dataset):
        self.wire = wire
        self.dataset = dataset
        self.keys = None        # Client.fetch_neuron_keys (lru_cache)
        self.meta = None        # Client.meta (lru_cache)

    def connect(self):
        """Client(server, dataset, token): the dataset list (retried once
        with the cache cleared when the name is missing)."""
        for _ in (0, 1):
            ds = self.wire.call("datasets", "GET", "/api/dbmeta/datasets", once=True)
            if self.dataset in ds:
                return
        raise RuntimeError("dataset %r not on the server" % self.dataset)

    def fetch_meta(self, kind, once=False):
        a = self.wire.custom(kind, META_Q, self.dataset, once=once)
        row = dict(zip(a["columns"], a["data"][0]))   # IndexError when empty, as .iloc[0]
        meta = dict(row.pop("meta"))
        meta.update(row)
        return meta

    def client_meta(self):
        if self.meta is None:
            self.meta = self.fetch_meta("meta", once=True)
        return self.meta

    def all_rois(self):
        m = self.client_meta()
        rois = set(m["roiInfo"].keys())
        if m.get("dataset") == "hemibrain":
            rois |= {'FB-column3', 'AL-DC3'} | {"AL-DC%d(R)" % i for i in (1, 2, 3, 4)}
        return rois

    def neuron_keys(self):
        if self.keys is None:
            a = self.wire.custom("keys", NEURON_PROPS_Q, self.dataset, once=True)
            v = a["data"][0][0]
            if v is None:
                a = self.wire.custom("keys", NEURON_KEYS_Q, self.dataset, once=True)
                self.keys = [r[0] for r in a["data"]]
            else:
                self.keys = list(json.loads(v).keys())
        return self.keys

    def columns(self):
        """utils.compile_columns: core columns present, then the rest sorted."""
        keys = self.neuron_keys()
        if keys:
            rois = self.all_rois()
            keys = [k for k in keys if k not in rois]
        cols = [k for k in CORE_COLS if k in keys]
        cols += [k for k in sorted(keys) if k not in cols]
        return cols

    def fetch_neurons(self, name):
        """(rows as dicts, countcols, per-ROI rows) as fetch_neurons returns
        its two tables."""
        self.all_rois()     # NeuronCriteria() checks its (no) ROIs against them
        props = [cypher_identifier(p) for p in self.columns()]
        a = self.wire.custom("neurons", neurons_query(name, props), self.dataset)
        rows = [dict(zip(a["columns"], r)) for r in a["data"]]
        rois = self.all_rois()
        primary = set(self.client_meta()["primaryRois"])
        cols = [c for c in a["columns"] if c not in rois]
        countcols = [c for c in COUNT_COLS if c in cols]
        table = []
        for n in rows:
            info = json.loads(n["roiInfo"])        # ujson.loads: TypeError on null
            inprim = dict.fromkeys(countcols, 0)
            for roi, counts in info.items():
                rec = {c: counts.get(c) or 0 for c in countcols}
                table.append((n["bodyId"], roi, rec))
                if roi in primary:
                    for c in countcols:
                        inprim[c] += rec[c]
            # the NotPrimary row: the neuron's totals less its primary ROIs
            table.append((n["bodyId"], "NotPrimary",
                          {c: (n.get(c) or 0) - inprim[c] for c in countcols}))
        table = [t for t in table if any(t[2].values())]
        return rows, countcols, table

    def hierarchy_primaries(self, kind):
        """fetch_roi_hierarchy(mark_primary=True): the starred names."""
        meta = self.fetch_meta(kind)
        primary = set(meta["primaryRois"])
        out = set()

        def walk(h):
            if h["name"] in primary:
                out.add(h["name"])
            for c in h.get("children", ()):
                walk(c)
        walk(meta["roiHierarchy"])
        return out

    def partners(self, rows):
        ids = str([n["bodyId"] for n in rows])
        try:
            self.wire.custom("upstream", UPSTREAM_Q.format(ids=ids), self.dataset)
            self.wire.custom("downstream", DOWNSTREAM_Q.format(ids=ids), self.dataset)
        except Exception:   # _get_connectivity_summary's except
            pass

    def roi_summary(self, countcols, table):
        """_aggregate_roi_data + the 1.5 % filter: is there an ROI to
        look up the parent of?"""
        try:
            primary = self.hierarchy_primaries("hierarchy")
        except Exception:   # _get_primary_rois prints a warning
            primary = set()
        d = self.dataset.lower()
        if "optic" in d or "ol" in d:
            primary |= OPTIC_PRIMARY
        elif "cns" in d:
            primary |= CNS_PRIMARY
        elif "hemibrain" in d:
            primary |= HEMIBRAIN_PRIMARY
        if not primary:
            primary = set(FALLBACK_PRIMARY)
        sums = {}
        for _, roi, rec in table:
            if roi in primary:
                s = sums.setdefault(roi, dict.fromkeys(countcols, 0))
                for c in countcols:
                    s[c] += rec[c]
        if not sums:
            return False
        if "downstream" not in countcols or "upstream" not in countcols:
            raise KeyError("Column(s) ['downstream', 'upstream'] do not exist")
        tpre = sum(s["pre"] for s in sums.values())
        tpost = sum(s["post"] for s in sums.values())
        for roi, s in sums.items():
            pre = 100.0 * s["pre"] / tpre if tpre > 0 else 0.0
            post = 100.0 * s["post"] / tpost if tpost > 0 else 0.0
            if (pre >= THRESHOLD or post >= THRESHOLD) and \
                    re.sub(r'\s*\([RLM]\)$', '', roi).strip():
                return True
        return False

    def one_type(self, name):
        try:
            rows, countcols, table = self.fetch_neurons(name)
            if not rows:
                return
            self.partners(rows)
            if not table:
                return
            if self.roi_summary(countcols, table):
                try:
                    self.hierarchy_primaries("parent")
                except Exception:   # _get_roi_hierarchy_parent's except
                    pass
        except Exception:           # _get_roi_summary_for_neuron_type's except
            pass


def replay(url, ca, token, dataset, names, versions=False, trace=None):
    """Replay create-index over NAMES (sorted); per-type figures and the
    one-off requests (client set-up, cached lookups) apart. TRACE, a list,
    receives every request sent."""
    wire = Wire(url, ca, token, versions)
    wire.trace = trace
    qp = QuickPage(wire, dataset)
    t0 = time.monotonic()
    per_type = []
    try:
        qp.connect()
        for name in names:
            i = len(wire.log)
            t = time.monotonic()
            qp.one_type(name)
            wall = time.monotonic() - t
            mine = wire.log[i:]
            once = [x for x in mine if x[4]]
            per_type.append({"name": name, "wall_s": wall - sum(x[3] for x in once),
                             "requests": len(mine) - len(once),
                             "bytes_in": sum(x[2] for x in mine if not x[4])})
    finally:
        wire.close()
    wall = time.monotonic() - t0
    once = [x for x in wire.log if x[4]]
    by_kind = {}
    for kind, status, nbytes, _, _ in wire.log:
        k = by_kind.setdefault(kind, {"requests": 0, "bytes_in": 0, "status": {}})
        k["requests"] += 1
        k["bytes_in"] += nbytes
        k["status"][str(status)] = k["status"].get(str(status), 0) + 1
    return {"wall_s": wall, "requests": len(wire.log),
            "bytes_in": sum(x[2] for x in wire.log),
            "once": {"wall_s": sum(x[3] for x in once), "requests": len(once),
                     "bytes_in": sum(x[2] for x in once)},
            "per_type": per_type, "by_kind": by_kind, "reconnects": wire.reconnects}


TYPES_Q = "MATCH (n:Neuron) WHERE n.type IS NOT NULL RETURN DISTINCT n.type AS type"


def dataset_types(url, ca, token, dataset):
    """Every type name of the dataset, on a connection of its own and
    outside the figures: the sample's strata (below)."""
    w = Wire(url, ca, token)
    try:
        body = json.dumps({"cypher": TYPES_Q, "dataset": dataset}).encode()
        return {r[0] for r in w.call("types", "POST", "/api/custom/custom", body)["data"]}
    finally:
        w.close()


def strata(names, types):
    """Stems QuickPage will find (n.type = stem matches: ~3 requests and
    ~0.8 MB) and the others (one small request): two strata, sampled and
    extrapolated apart, so a sample's share of misses does not bias it."""
    return {"found": [n for n in names if n in types],
            "missing": [n for n in names if n not in types]}


def sample(groups, n, seed):
    """A fixed seeded sample of about N names from GROUPS (stratum ->
    names), each stratum in proportion but at least 2 (all of it when
    smaller); every name when N is 0 or not smaller than the whole."""
    total = sum(len(v) for v in groups.values())
    rnd = random.Random(seed)
    out = {}
    if not n or n >= total:
        return {k: list(v) for k, v in groups.items()}
    want = {k: min(len(v), max(2, round(n * len(v) / total))) for k, v in groups.items()}
    big = max(groups, key=lambda k: len(groups[k]))
    want[big] = min(len(groups[big]), max(2, n - sum(w for k, w in want.items() if k != big)))
    for k in sorted(groups):
        out[k] = sorted(rnd.sample(groups[k], want[k]))
    return out


def extrapolate(run, groups, picked):
    """Whole-site estimates from a stratified sample: the one-off part +
    for each stratum its size x its sample's mean per type, with a 95 %
    interval (normal, finite population correction per stratum)."""
    by_name = {p["name"]: p for p in run["per_type"]}
    out = {}
    for k in ("wall_s", "requests", "bytes_in"):
        est, var = run["once"][k], 0.0
        for g, names in groups.items():
            xs = [by_name[x][k] for x in picked.get(g, ()) if x in by_name]
            big, n = len(names), len(xs)
            if not big:
                continue
            if not n:
                raise ValueError("stratum %r has no replayed type" % g)
            est += big * statistics.fmean(xs)
            if 1 < n < big:
                var += big * big * statistics.variance(xs) / n * (big - n) / (big - 1)
        half = 1.96 * math.sqrt(var)
        out[k] = {"estimate": est, "low": est - half, "high": est + half}
    return out
