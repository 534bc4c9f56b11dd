"""quickpage's batched per-type queries, run once for every type when
`serve` starts (App.warm_queries), so that a job's CELLS and ROIS answers
come from cypher.Memo instead of the emulator's own CPU: the way
Dataset.warm() parses every roiInfo before the first job. The answers and
the modelled costs are the same either way; only the real CPU moves to the
start.

The texts are those of docs/queries.md (tests/test_server.py,
TestWarmQueries, holds them to it): when quickpage's queries change, change
them here too, or the first job pays Python's CPU again (its answers stay
right).

texts(dataset) -> [cypher text, ...]
"""

CELLS = ("UNWIND %(types)s AS t MATCH (n:Neuron) WHERE n.type = t "
         "RETURN n.type AS type, n.rootSide AS rootSide, "
         "n.somaSide AS somaSide, n.side AS side, n.instance AS instance, "
         "n.consensusNt AS nt, "
         "coalesce(n.celltypePredictedNt, n.predictedNt) AS pnt, "
         "n.dimorphism AS dimorphism, n.synonyms AS synonyms, "
         "min(n.bodyId) AS first, count(n) AS cells, "
         "sum(n.pre) AS pre, sum(n.post) AS post, "
         "collect(DISTINCT n.superclass) AS superclass, "
         "collect(DISTINCT n.class) AS class, "
         "collect(DISTINCT n.subclass) AS subclass, "
         "collect(DISTINCT n.flywireType) AS flywireType, "
         "collect(DISTINCT n.somaNeuromere) AS somaNeuromere, "
         "collect(DISTINCT n.trumanHl) AS trumanHl")

ROIS = ("UNWIND %(types)s AS t MATCH (n:Neuron) WHERE n.type = t "
        "WITH n.type AS type, apoc.convert.fromJsonMap(n.roiInfo) AS ri "
        "UNWIND keys(ri) AS roi WITH type, roi, ri[roi] AS c "
        "WHERE roi IN %(rois)s RETURN type, roi, sum(c.pre) AS pre, "
        "sum(c.post) AS post")

SHAPES = (CELLS, ROIS)


def quote(s):
    """A single-quoted Cypher literal, ':' as \\u003A as quickpage writes
    it (neuPrintHTTP 1.9 rewrites ':Neuron' even inside literals)."""
    out = ["'"]
    for ch in s:
        if ch == "\\":
            out.append("\\\\")
        elif ch == "'":
            out.append("\\'")
        elif ch == ":" or ord(ch) < 0x20:
            out.append("\\u%04X" % ord(ch))
        else:
            out.append(ch)
    out.append("'")
    return "".join(out)


def qlist(names):
    return "[" + ", ".join(quote(x) for x in names) + "]"


def texts(ds):
    """The batched queries over every type of DS, the ROIS one with the
    dataset's primaryRois (what META gives quickpage)."""
    types = [t for t in ds.by_type if t.__class__ is str]
    if not types:
        return []
    rois = [r for r in (ds.meta.get("primaryRois") or []) if r.__class__ is str]
    out = [CELLS % {"types": qlist(types)}]
    if rois:
        out.append(ROIS % {"types": qlist(types), "rois": qlist(rois)})
    return out
