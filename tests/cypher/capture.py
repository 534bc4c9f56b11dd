#!/usr/bin/python3
"""Capture every query text quickpaged sends, from real runs.

  capture.py OUT.json [WORKDIR]
  capture.py --check          (the meson test 'cypher-frontend': capture
                               into a temporary directory, then check.js)

For each emulator flavor (cns, fafb, optic-lobe, hemibrain, manc) one
emulator serves that flavor's dataset at tiny scale, its type names being
the hostile ones of the integration tests (quotes, backslashes, unicode,
':Neuron' and the other labels neuPrintHTTP rewrites, a tab, HTML) beside
ordinary ones. quickpaged --run create-index runs against it with every
combination of strategy (batched, per-type), layout (flat, neuView's
types/) and rule set (quickpage, neuview), and once more (batched, flat)
with max_query_bytes at its floor, 4096, so that batches are cut at the
limit and a stem of many underscores is resolved from the type list.
The emulator records each distinct text posted (GET /emu/queries).

OUT.json: a list of runs, each with what quickpage meant to ask about:
the page stems it scanned, the oracle's type names (which must all be
asked for), the dataset's primary ROIs, the run's max_query_bytes, and the
recorded queries {cypher, dataset, run}. check.js reads it.
"""
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.join(ROOT, "tests", "neuprint-emu"))
import harness as h                     # noqa: E402
from emu.dataset import FLAVORS         # noqa: E402
import test_create_index                # noqa: E402  (its AWKWARD names)

# The hostile names: tests/integration's (test_create_index.AWKWARD, and
# test_neuprint19.TestLabelRewrite's label-holding names), plus a name for
# each label neuPrintHTTP rewrites, backquoted and not, and a few more
# escapes; ordinary names beside them so batches hold both.
HOSTILE = list(test_create_index.AWKWARD) + [
    "PN:Neuron_like", "X:Meta:Segment", "AB:`Neuron`", "s:SynapseSet:Synapse",
    "c:Cell:ElementSet:Element", "q:`Segment`x", "x:SynapsesTo", "CR\rname",
    "nul\\u0000ish", "emoji \U0001F41D", "日本語タイプ", "back`tick", "$param",
    "/* comment */", "// slash", "many_under_scores_in_one_long_name_x",
    "LC10a", "T4a", "MBON01", "KC(ab)", "DNa02", "Mi1", "Tm3", "EPG",
]
STEM_RE = re.compile(r"^(.+?)(?:_([LRM]))?\.html$")
# quickpaged's floor for quickpaged.max_query_bytes (pipeline/config.c)
SMALL_BATCH = 4096


def emu_cmd(sub, flavor, types_file, *rest):
    return [h.PYTHON, h.EMU, sub, "--flavor", flavor, "--dataset", dataset_of(flavor),
            "--scale", "tiny", "--seed", "1", "--types-file", types_file] + list(rest)


def dataset_of(flavor):
    return "%s:%s" % FLAVORS[flavor]


def stems(pages, layout):
    d = os.path.join(pages, "types") if layout == "neuview" else pages
    out = set()
    for f in os.listdir(d):
        m = STEM_RE.match(f)
        if m and f not in ("index.html", "main.html") and not f.startswith("."):
            out.add(m.group(1))
    return sorted(out)


def oracle_names(flavor, types_file, pages, layout, rules):
    r = subprocess.run(emu_cmd("oracle", flavor, types_file, "--pages", pages,
                               "--layout", layout, "--rules", rules),
                       check=True, stdout=subprocess.PIPE)
    doc = json.loads(r.stdout)
    unmatched = set(doc.get("unmatched") or [])
    return sorted(t["name"] for t in doc["types"] if t["name"] not in unmatched)


def post(emu, cypher):
    """A query of our own (not recorded: recording is off)."""
    import http.client
    import ssl
    ctx = ssl.create_default_context(cafile=emu.ca)
    host, port = emu.url[len("https://"):].rsplit(":", 1)
    c = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=60)
    c.request("POST", "/api/custom/custom",
              body=json.dumps({"cypher": cypher, "dataset": emu.dataset}),
              headers={"Authorization": "Bearer " + emu.token,
                       "Content-Type": "application/json"})
    r = c.getresponse()
    data = json.loads(r.read())
    c.close()
    if r.status != 200:
        raise RuntimeError("emulator answered %d: %r" % (r.status, data))
    return data["data"]


def one_run(emu, work, flavor, pages, layout, rules, strategy, mqb, types_file, rois):
    tag = "%s-%s-%s-%s-%d" % (flavor, layout, rules, strategy, mqb)
    extra = "  rules: %s\n  max_query_bytes: %d\n" % (rules, mqb)
    cfg = h.write_config(os.path.join(work, tag + ".yaml"), emu.url, pages, ca=emu.ca,
                         dataset=dataset_of(flavor), extra=extra)
    st = emu.admin("/emu/queries", {"record": True})
    if not st.get("recording"):
        raise RuntimeError("the emulator does not record queries: %r" % st)
    args = ["--no-cache"] + (["--strategy", "per-type"] if strategy == "per-type" else [])
    r = h.run(cfg, *args, timeout=300)
    d = emu.admin("/emu/queries")
    emu.admin("/emu/queries", {"record": False})
    if r.returncode != 0:
        raise RuntimeError("quickpaged failed on run %s: %s" % (tag, r.stderr.strip()))
    if not d["queries"]:
        raise RuntimeError("run %s: the emulator recorded no query" % tag)
    return {"run": tag, "flavor": flavor, "dataset": dataset_of(flavor), "layout": layout,
            "rules": rules, "strategy": strategy, "max_query_bytes": mqb,
            "stems": stems(pages, layout),
            "types": oracle_names(flavor, types_file, pages, layout, rules),
            "rois": rois, "queries": d["queries"]}


def capture(work):
    types_file = os.path.join(work, "types.txt")
    with open(types_file, "w", encoding="utf-8") as f:
        f.write("\n".join(HOSTILE) + "\n")
    runs = []
    for flavor in FLAVORS:
        fw = os.path.join(work, flavor)
        os.makedirs(fw)
        with h.Emulator(fw, "tiny", 1, types_file=types_file, dataset=dataset_of(flavor),
                        extra=("--flavor", flavor, "--latency-ms", "0")) as emu:
            rois = post(emu, "MATCH (m:Meta) RETURN m.primaryRois AS p")[0][0]
            for layout in ("quickpage", "neuview"):
                pages = os.path.join(fw, "site-" + layout)
                os.makedirs(pages)
                subprocess.run(emu_cmd("pages", flavor, types_file, "--out", pages,
                                       "--layout", layout),
                               check=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
                for rules in ("quickpage", "neuview"):
                    for strategy in ("batched", "per-type"):
                        runs.append(one_run(emu, fw, flavor, pages, layout, rules,
                                            strategy, 256 * 1024, types_file, rois))
                if layout == "quickpage":
                    runs.append(one_run(emu, fw, flavor, pages, layout, "quickpage",
                                        "batched", SMALL_BATCH, types_file, rois))
    return runs


def save(runs, out):
    with open(out, "w", encoding="utf-8") as f:
        json.dump(runs, f, ensure_ascii=False, indent=0)
    n = sum(len(r["queries"]) for r in runs)
    print("capture.py: %d runs, %d query texts -> %s" % (len(runs), n, out), flush=True)


def main():
    args = sys.argv[1:]
    if args[:1] == ["--check"]:
        # The meson test: capture into a temporary directory, then check.
        node = os.environ.get("NODE", "node")
        with h.Workdir(prefix="qp-cypher-") as w:
            out = os.path.join(w, "captured.json")
            save(capture(w), out)
            return subprocess.run([node, os.path.join(HERE, "check.js"), out]).returncode
    if len(args) not in (1, 2):
        sys.stderr.write("usage: capture.py OUT.json [WORKDIR] | capture.py --check\n")
        return 2
    if len(args) == 2:
        os.makedirs(args[1], exist_ok=True)
        save(capture(args[1]), args[0])
    else:
        with h.Workdir(prefix="qp-cypher-") as w:
            save(capture(w), args[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
