"""The expected answer of `quickpage create-index` (docs/create-index.md),
computed from scratch from a Dataset's neuron dicts, and the QuickPage page
stubs that the product scans.

write_pages(dataset, out_dir) -> list of file names written
oracle(dataset, dataset_name, pages_dir) -> dict (types.json without generated_at)
"""

import html
import json
import os
import re

ORPHAN_PAGES = ["RetiredType1.html", "RetiredType1_L.html"]
NOT_TYPES = ("index.html", "main.html")
SIDE_KEYS = (("", "both"), ("L", "left"), ("R", "right"), ("M", "middle"))
_PAGE_RE = re.compile(r"(.+?)(?:_([LRM]))?\.html", re.DOTALL)
_MAX_NAME_BYTES = 255


def _b(s):
    return s.encode("utf-8")


def file_stem(type_name):
    """The file rule: every '/' and every space becomes '_'."""
    return type_name.replace("/", "_").replace(" ", "_")


def neuron_side(n):
    """'L', 'R', 'M' or None (somaSide first, else an _L/_R instance suffix)."""
    s = n.get("somaSide")
    if s in ("L", "R", "M"):
        return s
    inst = n.get("instance")
    if isinstance(inst, str):
        if inst.endswith("_L"):
            return "L"
        if inst.endswith("_R"):
            return "R"
    return None


def display_name(roi):
    """Drop a trailing (R)/(L)/(M) and the blanks before it."""
    for suf in ("(R)", "(L)", "(M)"):
        if roi.endswith(suf):
            return roi[:-len(suf)].rstrip(" \t")
    return roi


def _types_with_neurons(dataset):
    by_type = {}
    for n in dataset.neurons:
        t = n.get("type")
        if t is None:
            continue
        by_type.setdefault(t, []).append(n)
    return by_type


def _stem_owner(type_names):
    """stem -> winning type name (exact match wins, else smallest by bytes)."""
    groups = {}
    for t in type_names:
        groups.setdefault(file_stem(t), []).append(t)
    owner = {}
    for stem, names in groups.items():
        owner[stem] = stem if stem in names else min(names, key=_b)
    return owner


def _stub(title):
    t = html.escape(title, quote=True)
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>%s</title>"
            "</head><body><h1>%s</h1><p>QuickPage stub (neuprint-emu)</p></body></html>\n"
            % (t, t))


def write_pages(dataset, out_dir):
    """Write the QuickPage pages of every type with neurons, 2 orphans and
    main.html into out_dir (created if needed; nothing is deleted). A stem
    shared by several types is written once, with the sides of all of them,
    titled with the winning type. Returns the sorted list of file names."""
    os.makedirs(out_dir, exist_ok=True)
    by_type = _types_with_neurons(dataset)
    owner = _stem_owner(by_type)
    sides = {}
    for t, ns in by_type.items():
        st = file_stem(t)
        ss = sides.setdefault(st, {"": True})
        for n in ns:
            s = neuron_side(n)
            if s is not None:
                ss[s] = True
    files = {}
    for st in sorted(sides, key=_b):
        for s in ("", "L", "R", "M"):
            if s in sides[st]:
                fn = st + ("_" + s if s else "") + ".html"
                if len(_b(fn)) <= _MAX_NAME_BYTES and "\0" not in fn:
                    files[fn] = owner[st]
    for fn in ORPHAN_PAGES:
        files.setdefault(fn, fn[:-5])
    files["main.html"] = "main"
    for fn in sorted(files, key=_b):
        with open(os.path.join(out_dir, fn), "w", encoding="utf-8") as f:
            f.write(_stub(files[fn]))
    return sorted(files, key=_b)


def scan_pages(pages_dir):
    """stem -> {side ('' for the combined page): file name}."""
    stems = {}
    with os.scandir(pages_dir) as it:
        entries = sorted((e for e in it), key=lambda e: _b(e.name))
    for e in entries:
        name = e.name
        if name.startswith(".") or name in NOT_TYPES or not name.endswith(".html"):
            continue
        if not e.is_file():  # symlinks to regular files count, as in scan.c
            continue
        m = _PAGE_RE.fullmatch(name)
        if m is None:
            continue
        stems.setdefault(m.group(1), {})[m.group(2) or ""] = name
    return stems


def _roi_tree_parents(hierarchy):
    """Depth-first (children in byte order) list of (node name, parent name or None)."""
    out = []
    stack = [(hierarchy, None)]
    while stack:
        node, parent = stack.pop()
        out.append((node.get("name"), parent))
        kids = sorted(node.get("children") or [], key=lambda c: _b(c.get("name", "")))
        for c in reversed(kids):
            stack.append((c, node.get("name")))
    return out


def _type_entry(name, urls, neurons, primary, walk):
    counts = {"total": len(neurons), "left": 0, "right": 0, "middle": 0}
    pre = post = 0
    nts = {}
    roi_sum = {}
    for n in neurons:
        s = neuron_side(n)
        if s == "L":
            counts["left"] += 1
        elif s == "R":
            counts["right"] += 1
        elif s == "M":
            counts["middle"] += 1
        pre += n.get("pre") or 0
        post += n.get("post") or 0
        nt = n.get("consensusNt")
        if nt is not None:
            nts[nt] = nts.get(nt, 0) + 1
        ri = n.get("roiInfo")
        if ri:
            for roi, c in json.loads(ri).items():
                if roi not in primary:
                    continue
                e = roi_sum.setdefault(roi, [0, 0])
                e[0] += c.get("pre") or 0
                e[1] += c.get("post") or 0
    consensus = None
    if nts:
        best = max(nts.values())
        consensus = min((k for k, v in nts.items() if v == best), key=_b)
    tot_pre = sum(v[0] for v in roi_sum.values())
    tot_post = sum(v[1] for v in roi_sum.values())
    order = sorted(roi_sum, key=lambda r: (-(roi_sum[r][0] + roi_sum[r][1]), _b(r)))
    summary = []
    shown = {}
    for r in order:
        p, q = roi_sum[r]
        pp = 100.0 * p / tot_pre if tot_pre else 0.0
        qp = 100.0 * q / tot_post if tot_post else 0.0
        if not (pp >= 1.5 or qp >= 1.5):
            continue
        d = display_name(r)
        if d in shown:
            continue
        shown[d] = True
        summary.append({"name": d, "pre": p, "post": q, "pre_pct": pp, "post_pct": qp})
        if len(summary) == 5:
            break
    parent = ""
    if summary:
        want = summary[0]["name"]
        for node, par in walk:
            if node is not None and display_name(node) == want:
                parent = "" if par is None else display_name(par)
                break
    return {"name": name, "urls": urls, "roi_summary": summary, "parent_roi": parent,
            "counts": counts, "consensus_nt": consensus, "pre": pre, "post": post}


def dataset_version(meta):
    """What the product records as the dataset's version: uuid, and
    "@lastDatabaseEdit" when there is one (uuid stays when only annotations
    change; lastDatabaseEdit moves)."""
    uuid = meta.get("uuid")
    if uuid is None:
        return None
    edit = meta.get("lastDatabaseEdit")
    return uuid if edit is None else "%s@%s" % (uuid, edit)


def oracle(dataset, dataset_name, pages_dir):
    """types.json of docs/create-index.md for the pages in pages_dir, without
    generated_at."""
    meta = dataset.meta
    primary = {r: True for r in meta.get("primaryRois") or []}
    walk = _roi_tree_parents(json.loads(meta["roiHierarchy"]))
    by_type = _types_with_neurons(dataset)
    owner = _stem_owner(by_type)
    types = []
    unmatched = []
    for stem, found in scan_pages(pages_dir).items():
        urls = {}
        for s, key in SIDE_KEYS:
            if s in found:
                urls[key] = found[s]
        t = owner.get(stem)
        if t is None:
            unmatched.append(stem)
            types.append({"name": stem, "urls": urls, "roi_summary": [], "parent_roi": "",
                          "counts": {"total": 0, "left": 0, "right": 0, "middle": 0},
                          "consensus_nt": None, "pre": 0, "post": 0})
        else:
            types.append(_type_entry(t, urls, by_type[t], primary, walk))
    types.sort(key=lambda e: _b(e["name"]))
    unmatched.sort(key=_b)
    return {"dataset": dataset_name, "dataset_version": dataset_version(meta),
            "types": types, "unmatched": unmatched}
