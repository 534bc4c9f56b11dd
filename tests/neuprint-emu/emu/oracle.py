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
SIDE_KEYS = (("", "combined"), ("L", "left"), ("R", "right"), ("M", "middle"))
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


def spells(stem, t):
    """Whether page stem STEM stands for type T: the file rule's stem of T,
    or that with some of T's spaces kept (a stray page, "X Y.html" beside
    "X_Y.html"): each '_' of STEM is '_', '/' or ' ' in T, all else equal."""
    return len(stem) == len(t) and all(
        a == b or (a == "_" and b in "/ ") for a, b in zip(stem, t))


def _stem_types(type_names):
    """file_stem -> the type names that give it."""
    groups = {}
    for t in type_names:
        groups.setdefault(file_stem(t), []).append(t)
    return groups


def _resolve(stem, groups):
    """The type page stem STEM stands for: of the types it spells, the one
    equal to STEM, else the smallest by bytes; None when none."""
    names = [t for t in groups.get(file_stem(stem), ()) if spells(stem, t)]
    if not names:
        return None
    return stem if stem in names else min(names, key=_b)


def _rule_spelled(url, name):
    base = url.rsplit("/", 1)[-1]
    st = file_stem(name)
    return base in (st + ".html", st + "_L.html", st + "_R.html", st + "_M.html")


def _merge_urls(name, a, b, dropped):
    """Pages of two stems that stand for type NAME, as one entry's: per side
    the file rule's spelling, else the smaller name; the other is dropped."""
    out = dict(a)
    for key, url in b.items():
        have = out.get(key)
        if have is None:
            out[key] = url
            continue
        ra, rb = _rule_spelled(have, name), _rule_spelled(url, name)
        keep = url if (rb and not ra) or (ra == rb and _b(url) < _b(have)) else have
        dropped.append(url if keep == have else have)
        out[key] = keep
    return out


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


def _neuview_stub(title):
    t = html.escape(title, quote=True)
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>%s</title>"
            "<script src=\"../static/js/neuron-search.js\"></script></head><body>"
            "<input id=\"menulines\"><input id=\"menulines-drawer\">"
            "<a href=\"../index.html\">Home</a> <a href=\"../types.html\">Types</a> "
            "<a href=\"../help.html\">Help</a><h1>%s</h1>"
            "<p>neuView stub (neuprint-emu)</p></body></html>\n" % (t, t))


def write_neuview_pages(dataset, out_dir, dataset_name="male-cns:v1.0"):
    """A neuView-layout site: pages in out_dir/types (one per side with
    neurons by neuView's side rule, a combined page as its soma detection
    writes it), plus stub shared pages neuView's create-list would replace.
    Returns the sorted page paths relative to out_dir."""
    tdir = os.path.join(out_dir, "types")
    os.makedirs(tdir, exist_ok=True)
    adapter = adapter_for(dataset_name)
    by_type = _types_with_neurons(dataset)
    files = {}
    for t in sorted(by_type, key=_b):
        clean = file_stem(t)
        sides = type_sides(adapter, sorted(by_type[t], key=lambda n: n["bodyId"]))
        have = [s for s in ("L", "R", "M") if s in sides]
        unknown = None in sides
        for s in have:
            files["%s_%s.html" % (clean, s)] = t
        if len(have) >= 2 or not have or (unknown and have):
            files[clean + ".html"] = t
    out = []
    for fn in sorted(files, key=_b):
        if len(_b(fn)) > _MAX_NAME_BYTES:
            continue
        with open(os.path.join(tdir, fn), "w", encoding="utf-8") as f:
            f.write(_neuview_stub(files[fn]))
        out.append("types/" + fn)
    for fn in ("index.html", "types.html", "help.html"):
        with open(os.path.join(out_dir, fn), "w", encoding="utf-8") as f:
            f.write("<!DOCTYPE html><title>neuView %s stub</title>"
                    "<input id=\"landing-search\">\n" % fn)
    return out


def scan_pages(pages_dir, not_types=NOT_TYPES):
    """stem -> {side ('' for the combined page): file name}."""
    stems = {}
    with os.scandir(pages_dir) as it:
        entries = sorted((e for e in it), key=lambda e: _b(e.name))
    for e in entries:
        name = e.name
        if name.startswith(".") or name in not_types or not name.endswith(".html"):
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


# --- side conventions (neuview-site.md section 5, docs/create-index.md) ---
_OPTIC_RE = re.compile(r"(?:_|-|\()([LRMlrm])(?:_|\)|$|[^a-zA-Z])")
_FAFB_WORDS = {"LEFT": "L", "left": "L", "L": "L", "RIGHT": "R", "right": "R", "R": "R",
               "CENTER": "M", "MIDDLE": "M", "center": "M", "middle": "M", "C": "M", "M": "M"}


def adapter_for(dataset_name):
    """cns, hemibrain, optic-lobe or fafb, from the name without ':version'."""
    base = (dataset_name or "").split(":", 1)[0]
    if base == "hemibrain":
        return "hemibrain"
    if base == "optic-lobe":
        return "optic-lobe"
    if base in ("flywire-fafb", "fafb"):
        return "fafb"
    return "cns"


def _lrm(v):
    return v if v in ("L", "R", "M") else None


def _instance_side(adapter, inst):
    if not isinstance(inst, str):
        return None
    if adapter == "hemibrain":
        m = re.search(r"_([LR])$", inst)
        return m.group(1) if m else None
    m = _OPTIC_RE.search(inst)
    return m.group(1).upper() if m else None


def type_sides(adapter, neurons):
    """Side ('L', 'R', 'M' or None) of each neuron of one type."""
    def prop(n):
        v = n.get("rootSide")
        return v if v is not None else n.get("somaSide")
    if adapter == "cns":
        return [_lrm(prop(n)) for n in neurons]
    if adapter in ("hemibrain", "optic-lobe"):
        if any(prop(n) is not None for n in neurons):
            return [_lrm(prop(n)) for n in neurons]
        return [_instance_side(adapter, n.get("instance")) for n in neurons]
    out = []
    for n in neurons:
        v = prop(n)
        if v is not None:
            out.append(_lrm(v))
        elif n.get("side") is not None:
            out.append(_FAFB_WORDS.get(n.get("side")))
        else:
            out.append(_instance_side(adapter, n.get("instance")))
    return out


def _text(v):
    if isinstance(v, bool):
        return "True" if v else "False"
    return v if isinstance(v, str) else str(v)


def _first(neurons, *keys):
    """First non-null value, in bodyId order, of the first key that has one per neuron."""
    for n in neurons:
        for k in keys:
            v = n.get(k)
            if v is not None:
                return v
    return None


def _distinct(neurons, key, split=False):
    vals = set()
    for n in neurons:
        v = n.get(key)
        if v is None:
            continue
        v = _text(v)
        if split:
            vals.update(p.strip(" \t\n\r\v\f") for p in v.split(","))
            vals.discard("")
        else:
            vals.add(v)
    return sorted(vals, key=_b)


def clean_name(roi):
    """neuView's ROI name cleaning (reference section 3.6)."""
    s = re.sub(r"[ \t\n\r\v\f]*\([RLM]\)$", "", roi)
    s = re.sub(r"_[RLM]$", "", s)
    return s.strip(" \t\n\r\v\f")


def _neuview_parent(name, walk):
    for node, par in walk:
        if node is not None and clean_name(node) == name:
            return name if par is None else clean_name(par)
    return name


def _roi_summary(roi_sum, walk, rules, threshold):
    tot_pre = sum(v[0] for v in roi_sum.values())
    tot_post = sum(v[1] for v in roi_sum.values())
    order = sorted(roi_sum, key=lambda r: (-(roi_sum[r][0] + roi_sum[r][1]), _b(r)))
    summary = []
    shown = {}
    for r in order:
        p, q = roi_sum[r]
        pp = 100.0 * p / tot_pre if tot_pre else 0.0
        qp = 100.0 * q / tot_post if tot_post else 0.0
        if not (pp >= threshold or qp >= threshold):
            continue
        d = clean_name(r) if rules == "neuview" else display_name(r)
        if d in shown:
            continue
        shown[d] = True
        summary.append({"name": d, "pre": p, "post": q, "pre_pct": pp, "post_pct": qp})
        if rules == "quickpage" and len(summary) == 5:
            break
    if rules == "neuview":
        parents = sorted({_neuview_parent(e["name"], walk) for e in summary}, key=_b)
        return summary, parents, parents[0] if parents else ""
    parent = ""
    if summary:
        want = summary[0]["name"]
        for node, par in walk:
            if node is not None and display_name(node) == want:
                parent = "" if par is None else display_name(par)
                break
    return summary, [parent] if parent else [], parent


def dataset_version(meta):
    """What the product records as the dataset's version: uuid, and
    "@lastDatabaseEdit" when there is one (uuid stays when only annotations
    change; lastDatabaseEdit moves)."""
    uuid = meta.get("uuid")
    if uuid is None:
        return None
    edit = meta.get("lastDatabaseEdit")
    return uuid if edit is None else "%s@%s" % (uuid, edit)


def _entry(name, urls):
    return {"name": name, "urls": urls,
            "counts": {"total": 0, "left": 0, "right": 0, "middle": 0, "undefined": 0},
            "synapses": {"pre": 0, "post": 0}, "nt": None,
            "superclass": [], "class": [], "subclass": [], "dimorphism": None,
            "synonyms": None, "flywire_types": [], "soma_neuromeres": [],
            "truman_hemilineages": [], "roi_summary": [], "parent_rois": [],
            "parent_roi": ""}


def _type_entry(name, urls, neurons, primary, walk, adapter="cns", rules="quickpage",
                threshold=1.5):
    neurons = sorted(neurons, key=lambda n: n["bodyId"])
    e = _entry(name, urls)
    c = e["counts"]
    c["total"] = len(neurons)
    for s in type_sides(adapter, neurons):
        c[{"L": "left", "R": "right", "M": "middle", None: "undefined"}[s]] += 1
    roi_sum = {}
    for n in neurons:
        e["synapses"]["pre"] += n.get("pre") or 0
        e["synapses"]["post"] += n.get("post") or 0
        ri = n.get("roiInfo")
        if ri:
            for roi, cnt in json.loads(ri).items():
                if roi not in primary:
                    continue
                acc = roi_sum.setdefault(roi, [0, 0])
                acc[0] += cnt.get("pre") or 0
                acc[1] += cnt.get("post") or 0
    nt = _first(neurons, "consensusNt")
    if nt is None:
        nt = _first(neurons, "celltypePredictedNt", "predictedNt")
    e["nt"] = nt
    for key, field in (("superclass", "superclass"), ("class", "class"),
                       ("subclass", "subclass"), ("soma_neuromeres", "somaNeuromere"),
                       ("truman_hemilineages", "trumanHl")):
        e[key] = _distinct(neurons, field)
    e["flywire_types"] = _distinct(neurons, "flywireType", split=True)
    e["dimorphism"] = _first(neurons, "dimorphism")
    e["synonyms"] = _first(neurons, "synonyms")
    e["roi_summary"], e["parent_rois"], e["parent_roi"] = _roi_summary(
        roi_sum, walk, rules, threshold)
    return e


def oracle(dataset, dataset_name, pages_dir, layout="quickpage", rules=None,
           threshold=1.5):
    """types.json (schema 2, docs/output.md) for the pages of a site, without
    generated_at. layout 'neuview': the pages are in pages_dir/types and the
    urls say so; rules default to the layout's."""
    if rules is None:
        rules = "neuview" if layout == "neuview" else "quickpage"
    meta = dataset.meta
    primary = {r: True for r in meta.get("primaryRois") or []}
    walk = _roi_tree_parents(json.loads(meta["roiHierarchy"]))
    by_type = _types_with_neurons(dataset)
    groups = _stem_types(by_type)
    adapter = adapter_for(dataset_name)
    types = []
    unmatched = []
    pages_of = {}   # type -> urls, every stem that stands for it
    dropped = []
    if layout == "neuview":
        found_pages = scan_pages(os.path.join(pages_dir, "types"), not_types=())
        prefix = "types/"
    else:
        found_pages = scan_pages(pages_dir)
        prefix = ""
    for stem, found in found_pages.items():
        urls = {}
        for s, key in SIDE_KEYS:
            if s in found:
                urls[key] = prefix + found[s]
        t = _resolve(stem, groups)
        if t is None:
            unmatched.append(stem)
            types.append(_entry(stem, urls))
        elif t in pages_of:
            pages_of[t] = _merge_urls(t, pages_of[t], urls, dropped)
        else:
            pages_of[t] = urls
    for t, urls in pages_of.items():
        types.append(_type_entry(t, urls, by_type[t], primary, walk, adapter,
                                 rules, threshold))
    types.sort(key=lambda e: _b(e["name"]))
    unmatched.sort(key=_b)
    return {"version": 2, "layout": layout, "rules": rules, "dataset": dataset_name,
            "dataset_version": None if meta.get("uuid") is None else
            {"uuid": meta["uuid"], "last_database_edit": meta.get("lastDatabaseEdit")},
            "types": types, "unmatched": unmatched, "failed": []}
