"""Synthetic neuPrint dataset for the emulator (standard library only).

build(scale, seed, types_file, mutate_frac, cache_dir) -> Dataset

Deterministic for equal arguments on any machine: every random draw comes from
random.Random instances seeded with integers derived by sha256 from the
arguments; nothing iterates a set or depends on hash(). See README-data.md.
"""

import gc
import hashlib
import json
import math
import os
import pickle
import random
import re
import tempfile
from datetime import datetime, timezone

GENERATOR_VERSION = "emu-data-7"
# The random streams of the base data (names, sizes, sides, roiInfo) are
# derived from this string, not from GENERATOR_VERSION, so that the data
# model could grow (emu-data-6: the male-cns v1.0 properties, column ROIs,
# zero fields dropped; emu-data-7: neuprint-python's core neuron columns)
# without moving every type's numbers.
STREAM = "emu-data-5"
DATASET_NAME = "male-cns"
DATASET_TAG = "v1.0"

# --flavor: property names, side conventions and Meta naming of other
# neuPrint datasets (see README-data.md, "Flavors").
FLAVORS = {
    "cns": ("male-cns", "v1.0"),
    "fafb": ("flywire-fafb", "v783b"),
    "optic-lobe": ("optic-lobe", "v1.1"),
    "hemibrain": ("hemibrain", "v1.2.1"),
    "manc": ("manc", "v1.2.1"),
}

SCALES = {
    # types (generated names), total neurons (typed + untyped), big-type factor
    "tiny": (50, 500, 0.04),
    "demo": (800, 11000, 0.12),
    "cns": (10000, 166000, 1.0),
}
UNTYPED_FRAC = 0.004

FIELDS = ("pre", "post", "downstream", "upstream", "synweight")
_FIELD_NAMES = {f: f for f in FIELDS}      # shared key strings in parsed roiInfo


def _derive(*parts):
    """An integer seed derived from the parts (stable across machines)."""
    text = "\x1f".join(repr(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


# --------------------------------------------------------------------------
# ROI hierarchy (abbreviations from shared/reference/brainregions.csv)
# --------------------------------------------------------------------------

class _Node:
    __slots__ = ("name", "children", "primary")

    def __init__(self, name, children=(), primary=False):
        self.name = name
        self.children = list(children)
        self.primary = primary


def _p(name, children=()):
    return _Node(name, children, primary=True)


def _g(name, children=()):
    return _Node(name, children, primary=False)


NERVES = ["ADMN", "PDMN", "CvN", "PrN", "DProN", "VProN", "ProAN", "ProCN",
          "ProLN", "MesoLN", "MesoAN", "DMetaN", "MetaLN", "AbN1", "AbN2",
          "AbN3", "AbN4", "AbNT"]


def _build_tree():
    def sd(base, s):
        return "%s(%s)" % (base, s)

    def mb(s):
        return _g(sd("MB", s), [
            _p(sd("CA", s), [_g(sd(x, s)) for x in ("lACA", "dACA", "vACA")]),
            _p(sd("PED", s)),
            _p(sd("aL", s), [_g(sd(x, s)) for x in ("a1", "a2", "a3")]),
            _p(sd("a'L", s), [_g(sd(x, s)) for x in ("a'1", "a'2", "a'3")]),
            _p(sd("bL", s), [_g(sd(x, s)) for x in ("b1", "b2")]),
            _p(sd("b'L", s), [_g(sd(x, s)) for x in ("b'1", "b'2")]),
            _p(sd("gL", s), [_g(sd("g%d" % i, s)) for i in range(1, 6)]),
        ])

    central = []
    for s in ("R", "L"):
        central.append(mb(s))
    for s in ("R", "L"):
        central.append(_g(sd("LX", s), [_p(sd(x, s)) for x in ("BU", "LAL", "GA")]))
    for s in ("R", "L"):
        central.append(_g(sd("VLNP", s), [_p(sd(x, s)) for x in
                                          ("AOTU", "AVLP", "PVLP", "PLP", "WED")]))
    central.append(_g("CX", [
        _p("FB", [_g("FBl%d" % i) for i in range(1, 10)]),
        _p("EB", [_g(x) for x in ("EBr1", "EBr2r4", "EBr3am", "EBr3d", "EBr3pw",
                                  "EBr5", "EBr6")]),
        _p("AB(R)"), _p("AB(L)"),
        _p("PB", [_g("PB(R%d)" % i) for i in range(1, 10)]
           + [_g("PB(L%d)" % i) for i in range(1, 10)]),
        _p("NO", [_g("NO%d" % i) for i in range(1, 4)]),
    ]))
    for s in ("R", "L"):
        central.append(_p(sd("LH", s)))
    for s in ("R", "L"):
        central.append(_g(sd("SNP", s), [_p(sd(x, s)) for x in ("SLP", "SIP", "SMP")]))
    central.append(_g("INP", [
        _p("CRE(R)", [_g("RUB(R)"), _g("ROB(R)")]),
        _p("CRE(L)", [_g("RUB(L)"), _g("ROB(L)")]),
        _p("SCL(R)"), _p("SCL(L)"), _p("ICL(R)"), _p("ICL(L)"), _p("IB"),
        _p("ATL(R)"), _p("ATL(L)"),
    ]))
    for s in ("R", "L"):
        central.append(_p(sd("AL", s)))
    central.append(_g("VMNP", [_p(sd(x, s)) for x in ("VES", "EPA", "GOR", "SPS", "IPS")
                               for s in ("R", "L")]))
    central.append(_g("PENP", [_p("SAD")] + [_p(sd(x, s)) for x in ("AMMC", "FLA", "CAN")
                                             for s in ("R", "L")] + [_p("PRW")]))
    central.append(_p("GNG"))
    central += [_p("AOT(R)"), _p("AOT(L)"), _p("GC"), _p("GF(R)"), _p("GF(L)"),
                _p("mALT(R)"), _p("mALT(L)"), _p("POC"), _p("CentralBrain-unspecified")]

    def ol(s):
        return _g(sd("OL", s), [
            _p(sd("LA", s)),
            _p(sd("ME", s), [_g("ME_%s_layer_%02d" % (s, i)) for i in range(1, 11)]),
            _p(sd("AME", s)),
            _p(sd("LO", s), [_g("LO_%s_layer_%d" % (s, i)) for i in range(1, 8)]),
            _p(sd("LOP", s), [_g("LOP_%s_layer_%d" % (s, i)) for i in range(1, 5)]),
        ])

    vnc = []
    for t in ("T1", "T2", "T3"):
        for s in ("L", "R"):
            vnc.append(_p("LegNp(%s)(%s)" % (t, s), [_g("mVAC(%s)(%s)" % (t, s))]))
    for tect, t in (("NTct", "T1"), ("WTct", "T2"), ("HTct", "T3")):
        vnc.append(_g(tect, [_p("%s(UTct-%s)(%s)" % (tect, t, s)) for s in ("L", "R")]))
    vnc += [_p("IntTct"), _p("LTct"), _p("ANm"), _p("Ov(L)"), _p("Ov(R)"),
            _p("VNC-unspecified")]
    for nerve in NERVES:
        for s in ("L", "R"):
            vnc.append(_p(sd(nerve, s)))

    # children deliberately not in name order: consumers must sort
    return _g("CNS", [
        _g("CentralBrain", central),
        _g("VNC", vnc),
        ol("R"), ol("L"),
        _p("CV"),
        _p("Optic-unspecified"),
    ])


def _tree_json(node):
    d = {"name": node.name}
    if node.children:
        d["children"] = [_tree_json(c) for c in node.children]
    return d


class _RoiModel:
    """Derived tables of the hierarchy (ancestors, sub-primary children)."""

    def __init__(self):
        self.root = _build_tree()
        self.primary = []          # definition order
        self.ancestors = {}        # primary -> non-root ancestors
        self.sub = {}              # primary -> list of sub-primary leaves
        self.all_names = []        # every node except the root, definition order
        self._walk(self.root, [])

    def _walk(self, node, path):
        if path:
            self.all_names.append(node.name)
        if node.primary:
            self.primary.append(node.name)
            self.ancestors[node.name] = [n.name for n in path[1:]]
            leaves = []

            def collect(x):
                for c in x.children:
                    if c.children:
                        collect(c)
                    else:
                        leaves.append(c.name)
            collect(node)
            self.sub[node.name] = leaves
        for c in node.children:
            self._walk(c, path + [node])


_ROI = None


def roi_model():
    global _ROI
    if _ROI is None:
        _ROI = _RoiModel()
    return _ROI


# --------------------------------------------------------------------------
# ROI families used for type profiles. A trailing '*' marks a sided base.
# --------------------------------------------------------------------------

_NERVE_BASES = [n + "*" for n in NERVES]
FAMILIES = {
    "OL": ["ME*", "LO*", "LOP*", "LA*", "AME*", "Optic-unspecified", "PLP*",
           "PVLP*", "AOTU*"],
    "CB": ["AVLP*", "PVLP*", "PLP*", "WED*", "SLP*", "SIP*", "SMP*", "LH*", "SCL*",
           "ICL*", "IB", "ATL*", "CRE*", "LAL*", "AOTU*", "VES*", "EPA*", "GOR*",
           "SPS*", "IPS*", "SAD", "AMMC*", "FLA*", "CAN*", "PRW", "GNG", "AOT*",
           "GC", "GF*", "mALT*", "POC", "CentralBrain-unspecified"],
    "CX": ["FB", "EB", "PB", "NO", "AB*", "LAL*", "CRE*", "BU*", "GA*", "SMP*", "IB"],
    "MB": ["CA*", "PED*", "aL*", "a'L*", "bL*", "b'L*", "gL*", "SMP*", "SIP*",
           "CRE*", "SLP*"],
    "AL": ["AL*", "LH*", "CA*", "SLP*", "mALT*", "PRW", "SAD"],
    "VNC": ["LegNp(T1)*", "LegNp(T2)*", "LegNp(T3)*", "NTct(UTct-T1)*",
            "WTct(UTct-T2)*", "HTct(UTct-T3)*", "IntTct", "LTct", "ANm", "Ov*",
            "VNC-unspecified"] + _NERVE_BASES,
    "DN": ["GNG", "VES*", "SPS*", "IPS*", "CV", "IntTct", "LTct", "LegNp(T1)*",
           "LegNp(T2)*", "LegNp(T3)*", "ANm", "SAD", "CAN*", "FLA*", "EPA*", "LAL*",
           "WTct(UTct-T2)*"],
    "AN": ["ANm", "CV", "GNG", "IntTct", "LTct", "LegNp(T1)*", "LegNp(T2)*",
           "LegNp(T3)*", "Ov*", "VNC-unspecified", "SAD", "AMMC*", "WED*",
           "VES*", "IPS*"],
    "CVX": ["CV", "GNG", "LegNp(T1)*", "VNC-unspecified", "ANm"],
}
FAMILY_ORDER = ["OL", "CB", "CX", "MB", "AL", "VNC", "DN", "AN", "CVX"]


def _resolve(base, side):
    if base.endswith("*"):
        return "%s(%s)" % (base[:-1], side)
    return base


# --------------------------------------------------------------------------
# Type names
# --------------------------------------------------------------------------

# (name, family, side category, nt mode, cns size or None)
SPECIAL_TYPES = [
    ("KCa'b'-ap1", "MB", "pair", "normal", 300),
    ("KCa'b'-ap2", "MB", "pair", "normal", 280),
    ("KCa'b'-m", "MB", "pair", "normal", 350),
    ("Tergopleural/Pleural promotor MN", "VNC", "none", "normal", None),
    ("DLMn a, b", "VNC", "inst", "normal", None),
    ("PEN_b(PEN2)", "CX", "mid", "normal", None),
    ("PEN_a(PEN1)", "CX", "pair", "tie", None),
    ("VP1d+VP4_l2PN1", "AL", "pair", "normal", None),
    ("SMPp&v1B_M02", "CB", "one", "normal", None),
    ("IN20A.22A070,IN20A.22A080", "VNC", "noneM", "normal", None),
    ('SLP"dq"003', "CB", "pair", "normal", None),
    ("CB\\1234", "CB", "inst", "normal", None),
    ("LoVP\\12 x", "OL", "pair", "none", None),
    ("\u00b5-LN1", "AL", "pair", "tie", None),
    ("Tm\u00e97", "OL", "one", "normal", None),
    ("ADNM1 MN", "VNC", "pair", "normal", None),
    ("ADNM1_MN", "VNC", "pair", "normal", None),
    ("hDeltaK/a", "CX", "mid", "normal", None),
    ("hDeltaK a", "CX", "pair", "normal", None),
    ("AOTU008_a", "CB", "pair", "normal", None),
    ("Acc. tr flexor MN_a", "VNC", "inst", "normal", None),
    ("Sternal anterior rotator MN_b_2", "VNC", "pair", "normal", None),
    ("Tr flexor/extensor MN_a_b_c", "VNC", "pair", "normal", None),
    ("DN_x_unk_1_2_3_4_5", "DN", "pair", "normal", None),
    ("Ti extensor/flexor MN_1 a_2 b_3", "VNC", "pair", "normal", None),
    ("CV-dominant sensory fragment", "CVX", "none", "normal", None),
    ("Optic-unspec tangential 1", "OL", "mid", "normal", None),
]

# big, named types: (name, family, cns size)
BIG_TYPES = [
    ("T4a", "OL", 1350), ("KCg-m", "MB", 2200), ("Mi1", "OL", 1600),
    ("T4b", "OL", 1350), ("KCab", "MB", 1700), ("L1", "OL", 1600),
    ("T4c", "OL", 1350), ("T4d", "OL", 1350), ("T5a", "OL", 1300),
    ("T5b", "OL", 1300), ("T5c", "OL", 1300), ("T5d", "OL", 1300),
    ("L2", "OL", 1600), ("L3", "OL", 1600), ("L4", "OL", 1600), ("L5", "OL", 1600),
    ("Tm3", "OL", 1500), ("Mi4", "OL", 1400), ("Mi9", "OL", 1400),
    ("Tm1", "OL", 1600), ("Tm2", "OL", 1500), ("Tm4", "OL", 1500),
    ("Tm9", "OL", 1400), ("Tm20", "OL", 1500), ("C2", "OL", 1300),
    ("C3", "OL", 1400), ("T1", "OL", 1500),
]
BIG_COUNT = {"tiny": 2, "demo": 12, "cns": len(BIG_TYPES)}

_OL_PREFIX = ["Tm", "TmY", "Mi", "Dm", "Pm", "Li", "LC", "LPLC", "LT", "LPi", "Lawf",
              "MeTu", "MeLo", "LoVC", "LoVP", "MeVP", "Cm", "Sm", "Mt", "Tlp", "Y",
              "Lai", "LPT", "OLVC"]
_CB_PREFIX = ["AOTU", "AVLP", "PVLP", "PLP", "WED", "SMP", "SIP", "SLP", "LAL",
              "CRE", "SCL", "ICL", "IB", "ATL", "VES", "EPA", "GOR", "SPS", "IPS",
              "SAD", "AMMC", "FLA", "CAN", "PRW", "GNG", "LHAV", "LHPV", "LHAD",
              "LHPD", "LHCENT", "aSP", "pC1", "P1_"]
_GLOM = ["DA1", "DA2", "DA3", "DA4l", "DA4m", "DC1", "DC2", "DC3", "DC4", "DL1",
         "DL2d", "DL2v", "DL3", "DL4", "DL5", "DM1", "DM2", "DM3", "DM4", "DM5",
         "DM6", "DP1l", "DP1m", "VA1d", "VA1v", "VA2", "VA3", "VA4", "VA5", "VA6",
         "VA7l", "VA7m", "VC1", "VC2", "VC3", "VC4", "VC5", "VL1", "VL2a", "VL2p",
         "VM1", "VM2", "VM3", "VM4", "VM5d", "VM5v", "VM7d", "VM7v", "VP1d",
         "VP1l", "VP1m", "VP2", "VP3", "VP4", "VP5"]
_LETTERS = "abcdef"
_FAMILY_WEIGHTS = [("OL", 30), ("CB", 30), ("CX", 4), ("MB", 3), ("AL", 5),
                   ("VNC", 18), ("DN", 4), ("AN", 5), ("CVX", 1)]


def _gen_name(rng, family):
    r = rng.random
    if family == "OL":
        n = "%s%d" % (rng.choice(_OL_PREFIX), rng.randint(1, 130))
        if r() < 0.4:
            n += rng.choice(_LETTERS)
        return n
    if family == "CB":
        if r() < 0.25:
            n = "CB%04d" % rng.randint(1, 9999)
        else:
            p = rng.choice(_CB_PREFIX)
            n = "%s%03d" % (p, rng.randint(1, 999))
        if r() < 0.3:
            n += "_" + rng.choice("abcd")
        return n
    if family == "CX":
        k = rng.randrange(6)
        if k == 0:
            return "hDelta%s" % rng.choice("ABCDEFGHIJLM") + ("_%s" % rng.choice("ab") if r() < 0.5 else "")
        if k == 1:
            return "FB%d%s" % (rng.randint(1, 9), rng.choice("ABCDEFGHIJKLMNOPQ"))
        if k == 2:
            return "FS%d%s_%s" % (rng.randint(1, 4), rng.choice("ABC"), rng.choice("ab"))
        if k == 3:
            return "ER%d_%s" % (rng.randint(1, 6), rng.choice("abcd"))
        if k == 4:
            return "PFN%s_%s" % (rng.choice(["a", "d", "m", "p", "v"]), rng.choice("abc"))
        return "vDelta%s_%s" % (rng.choice("ABCDEFGHIJK"), rng.choice("abcd"))
    if family == "MB":
        k = rng.randrange(3)
        if k == 0:
            return "MBON%02d" % rng.randint(1, 40)
        if k == 1:
            return "PAM%02d_%s" % (rng.randint(1, 15), rng.choice("ab"))
        return "PPL%d%02d" % (rng.randint(1, 2), rng.randint(1, 9))
    if family == "AL":
        k = rng.randrange(3)
        if k == 0:
            return "%s_%s" % (rng.choice(_GLOM), rng.choice(["lPN", "adPN", "vPN", "l2PN", "ilPN"]))
        if k == 1:
            return "ORN_%s" % rng.choice(_GLOM)
        return "%sLN%d%s" % (rng.choice(["l", "v", "v2", "il3"]), rng.randint(1, 40),
                             rng.choice(["", "a", "b", "F_a", "F_b"]))
    if family == "VNC":
        k = rng.randrange(3)
        if k == 0:
            return "IN%02d%s%03d" % (rng.randint(1, 23), rng.choice("AB"), rng.randint(1, 120))
        if k == 1:
            return "SN%s%02d" % (rng.choice(["ta", "xx", "pp", "ch", "in", "ap"]), rng.randint(1, 45))
        return "MN%s%02d" % (rng.choice(["ad", "hl", "ml", "wm", "fl", "tp", "nm"]),
                             rng.randint(1, 80))
    if family == "DN":
        return "DN%s%02d" % (rng.choice("abdgpx"), rng.randint(1, 120))
    if family == "AN":
        return "AN%02d%s%03d" % (rng.randint(1, 20), rng.choice("AB"), rng.randint(1, 60))
    return "SNcv%02d" % rng.randint(1, 99)


def _stem(name):
    return name.replace("/", "_").replace(" ", "_")


_BAD_STEM = re.compile(r"_[LRM]\Z")


def _name_ok(name):
    stem = _stem(name)
    return (bool(name) and "\n" not in name and "\r" not in name and "\0" not in name
            and not name.startswith(".") and stem not in ("index", "main")
            and not _BAD_STEM.search(stem))


def _family_guess(name, rng):
    for fam, prefixes in (
            ("MB", ("KC", "MBON", "PAM", "PPL", "APL", "DPM")),
            ("CX", ("hDelta", "vDelta", "FB", "FC", "FS", "PFN", "PFL", "PFR", "ER",
                    "ExR", "EPG", "PEG", "PEN", "Delta7", "LNO", "EL")),
            ("DN", ("DN",)), ("AN", ("AN",)),
            ("VNC", ("IN", "SN", "MN", "EA", "DLM", "DVM", "Ti ", "Tr ", "Acc", "Ster", "Pleu", "Terg")),
            ("AL", ("ORN", "lLN", "v2LN", "il3LN", "M_", "VP", "DA", "DC", "DL", "DM", "VA", "VC", "VL", "VM")),
            ("OL", ("T4", "T5", "Tm", "Mi", "Dm", "Pm", "Li", "LC", "LPLC", "LT", "LPi", "Lawf",
                    "MeTu", "MeLo", "LoVC", "LoVP", "MeVP", "C2", "C3", "L1", "L2", "L3", "L4", "L5", "Y", "R1", "R7", "R8")),
            ("CB", ("AOTU", "AVLP", "PVLP", "PLP", "WED", "SMP", "SIP", "SLP", "LAL", "CRE",
                    "SCL", "ICL", "IB", "ATL", "VES", "CB", "LH", "GNG", "SAD", "AMMC"))):
        if name.startswith(prefixes):
            return fam
    return rng.choice(FAMILY_ORDER)


# --------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------

NTS = ["acetylcholine", "gaba", "glutamate", "dopamine", "serotonin", "octopamine",
       "histamine", "tyramine", "unclear"]
NT_WEIGHTS = [50, 22, 18, 3, 2, 2, 1, 1, 1]
STATUS = [("Traced", 95), ("Anchor", 4), ("Roughly traced", 1)]
SIDE_CATS = [("pair", 47), ("pairM", 40), ("one", 5), ("mid", 3), ("inst", 4), ("none", 2),
             ("noneM", 1)]


def _wchoice(rng, pairs):
    total = sum(w for _, w in pairs)
    x = rng.random() * total
    for v, w in pairs:
        x -= w
        if x < 0:
            return v
    return pairs[-1][0]


def _noise_table():
    r = random.Random(20240601)
    return [math.exp(r.gauss(0.0, 0.3)) for _ in range(4096)]


_NOISE = _noise_table()


def _read_types_file(path):
    with open(path, "r", encoding="utf-8") as f:
        text = f.read()
    names = []
    seen = {}
    for line in text.split("\n"):
        line = line.rstrip("\r")
        if not line.strip() or line in seen:
            continue
        seen[line] = True
        names.append(line)
    return names


def _type_specs(scale, rng, types_file):
    """List of dicts: name, family, cat, nt_mode, size (before adjustment), big."""
    ntypes, total, factor = SCALES[scale]
    specs = []
    if types_file is not None:
        for name in _read_types_file(types_file):
            specs.append({"name": name, "family": _family_guess(name, rng), "cat": None,
                          "nt": None, "size": None, "big": False})
        target = max(len(specs), int(round(len(specs) * total / float(ntypes))))
    else:
        stems = {}
        for name, fam, cat, nt, size in SPECIAL_TYPES:
            specs.append({"name": name, "family": fam, "cat": cat, "nt": nt,
                          "size": None if size is None else max(4, int(round(size * factor))),
                          "big": size is not None})
            stems[_stem(name)] = True
        for name, fam, size in BIG_TYPES[:BIG_COUNT[scale]]:
            specs.append({"name": name, "family": fam, "cat": "pair", "nt": "normal",
                          "size": max(10, int(round(size * factor))), "big": True})
            stems[_stem(name)] = True
        while len(specs) < ntypes:
            fam = _wchoice(rng, _FAMILY_WEIGHTS)
            name = _gen_name(rng, fam)
            st = _stem(name)
            if st in stems or not _name_ok(name):
                continue
            stems[st] = True
            specs.append({"name": name, "family": fam, "cat": None, "nt": None,
                          "size": None, "big": False})
        target = total
    for sp in specs:
        if sp["cat"] is None:
            sp["cat"] = _wchoice(rng, SIDE_CATS)
        if sp["nt"] is None:
            u = rng.random()
            sp["nt"] = "none" if u < 0.02 else ("tie" if u < 0.07 else "normal")
        if sp["size"] is None:
            u = rng.random()
            if u < 0.01:
                s = 1
            elif u < 0.78:
                s = rng.choice([2, 2, 2, 2, 3, 3, 4, 4, 5, 6, 7, 8, 9, 10])
            elif u < 0.98:
                s = int(math.exp(rng.uniform(math.log(11), math.log(60))))
            else:
                s = int(math.exp(rng.uniform(math.log(60), math.log(700))))
            sp["size"] = s
    # adjust typed total to target minus untyped
    typed_target = target - max(3, int(round(target * UNTYPED_FRAC)))
    cur = sum(sp["size"] for sp in specs)
    adjustable = [i for i, sp in enumerate(specs) if not sp["big"] and sp["size"] >= 11]
    if not adjustable:
        adjustable = [i for i, sp in enumerate(specs) if not sp["big"]] or list(range(len(specs)))
    guard = 0
    while cur != typed_target and guard < 10 * abs(typed_target) + 1000:
        guard += 1
        i = adjustable[rng.randrange(len(adjustable))]
        if cur < typed_target:
            specs[i]["size"] += 1
            cur += 1
        elif specs[i]["size"] > 2:
            specs[i]["size"] -= 1
            cur -= 1
    return specs, target - typed_target


def _make_profile(rng, family):
    pool = FAMILIES[family]
    k = min(len(pool), 2 + int(rng.random() ** 1.5 * 11))
    bases = rng.sample(pool, k)
    if family == "CVX" and "CV" in bases:
        bases.remove("CV")
        bases.insert(0, "CV")
    elif family == "CVX":
        bases[0] = "CV"
    prof = []
    for i, b in enumerate(bases):
        if b.endswith("*"):
            u = rng.random()
            how = "i" if u < 0.75 else ("c" if u < 0.9 else "b")
        else:
            how = "-"
        if i == 0:
            wpre, wpost = 0.5 + rng.random(), 0.5 + rng.random()
        else:
            wpre, wpost = rng.random() ** 3, rng.random() ** 3
        prof.append((b, how, wpre, wpost))
    spre = sum(p[2] for p in prof) or 1.0
    spost = sum(p[3] for p in prof) or 1.0
    prof = [(b, how, wpre / spre, wpost / spost) for b, how, wpre, wpost in prof]
    tpre = math.exp(rng.gauss(math.log(350), 0.9))
    tpost = math.exp(rng.gauss(math.log(1100), 0.8))
    return {"rois": prof, "pre": tpre, "post": tpost, "family": family}


def _neuron_rois(rng, profile, home, roi):
    """Returns (roiInfo dict sorted by key, neuron pre, neuron post)."""
    r = rng.random
    noise = _NOISE
    other = "L" if home == "R" else "R"
    fac = noise[int(r() * 4096)]
    tpre = profile["pre"] * fac
    tpost = profile["post"] * fac
    prim = {}
    for base, how, wpre, wpost in profile["rois"]:
        if how == "i":
            name = _resolve(base, home)
        elif how == "c":
            name = _resolve(base, other)
        elif how == "b":
            name = _resolve(base, home if r() < 0.5 else other)
        else:
            name = base
        p = int(tpre * wpre * noise[int(r() * 4096)] + r())
        q = int(tpost * wpost * noise[int(r() * 4096)] + r())
        if p or q:
            e = prim.get(name)
            if e is None:
                prim[name] = [p, q]
            else:
                e[0] += p
                e[1] += q
    # a few stray synapses elsewhere in the family (below the 1.5% threshold)
    pool = FAMILIES[profile["family"]]
    for _ in range(int(r() * 3)):
        name = _resolve(pool[int(r() * len(pool))], home if r() < 0.7 else other)
        p, q = int(r() * 3), int(r() * 4)
        if p or q:
            e = prim.get(name)
            if e is None:
                prim[name] = [p, q]
            else:
                e[0] += p
                e[1] += q
    acc = {}
    npre = npost = 0
    ancestors = roi.ancestors
    subs = roi.sub
    for name in sorted(prim):
        p, q = prim[name]
        ds = p * (3 + int(r() * 6))
        us = q
        npre += p
        npost += q
        vals = (p, q, ds, us)
        e = acc.get(name)
        if e is None:
            acc[name] = list(vals)
        else:
            for j in range(4):
                e[j] += vals[j]
        for a in ancestors[name]:
            e = acc.get(a)
            if e is None:
                acc[a] = list(vals)
            else:
                for j in range(4):
                    e[j] += vals[j]
        children = subs[name]
        if children:
            m = 1 + int(r() * min(3, len(children)))
            chosen = rng.sample(children, m)
            f = 0.6 + 0.4 * r()
            shares = [0.2 + r() for _ in chosen]
            ssum = sum(shares)
            for c, sh in zip(chosen, shares):
                k = f * sh / ssum
                cv = (int(p * k), int(q * k), int(ds * k), int(us * k))
                if cv[0] or cv[1]:
                    acc[c] = list(cv)
    # synapses outside every ROI
    npre += int(npre * 0.03 * r())
    npost += int(npost * 0.03 * r())
    out = {}
    for name in sorted(acc):
        p, q, ds, us = acc[name]
        out[name] = {"pre": p, "post": q, "downstream": ds, "upstream": us,
                     "synweight": ds + us}
    return out, npre, npost


def _set_roi(neuron, info, npre, npost, old_keys=()):
    for k in old_keys:
        neuron.pop(k, None)
    neuron["pre"] = npre
    neuron["post"] = npost
    neuron["roiInfo"] = json.dumps(_drop_zeros(info), separators=(",", ":"))
    for k in info:
        neuron[k] = True


def _drop_zeros(info):
    """neuPrint leaves zero counts out of roiInfo: {"ME(R)": {"post": 3}}."""
    return {k: {f: c for f, c in v.items() if c} for k, v in info.items()}


def _home_side(rng, neuron):
    s = neuron.get("somaSide")
    if s in ("L", "R"):
        return s
    inst = neuron.get("instance", "")
    if inst.endswith("_L"):
        return "L"
    if inst.endswith("_R"):
        return "R"
    return "R" if rng.random() < 0.5 else "L"


def _timestamp(rng, base_year=2025):
    base = datetime(base_year, 1, 1, tzinfo=timezone.utc).timestamp()
    ts = base + rng.randrange(0, 300 * 86400) + rng.randrange(1000000) / 1e6
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


# --------------------------------------------------------------------------
# male-cns v1.0 annotations and column ROIs (a stream of their own, so the
# base data above keeps its numbers)
# --------------------------------------------------------------------------

_SUPERCLASS = {"OL": "ol_intrinsic", "CB": "cb_intrinsic", "CX": "cb_intrinsic",
               "MB": "cb_intrinsic", "AL": "cb_intrinsic", "VNC": "vnc_intrinsic",
               "DN": "descending_neuron", "AN": "ascending_neuron", "CVX": "sensory"}
_VPN = ("LC", "LPLC", "LT", "MeTu", "MeLo", "LoVP", "MeVP", "OLVC")   # visual projection
_VCN = ("LoVC", "Cm", "Sm")                                          # visual centrifugal
_COLUMNAR = ("T4", "T5", "Mi", "Tm", "TmY", "L1", "L2", "L3", "L4", "L5", "C2", "C3",
             "T1", "Pm", "Dm", "Lawf", "Y", "Tlp")
_HEMILINEAGES = ["%02d%s" % (i, ab) for i in range(0, 24) for ab in "AB"]
_NEUROMERES = ["T1", "T2", "T3", "A1", "NA", "CB"]
_AUTHORS = ["Nern 2025", "Cheong 2024", "Schlegel 2024", "Marin 2024", "Takemura 2024",
            "Dorkenwald 2024", "Scheffer 2020", "Garner 2024", "Stürner 2025"]
_DIMORPHISM = [("sexually dimorphic", 6), ("male-specific", 2), ("putative male-specific", 1)]
# per side: ME has ~880 columns on a 32 x 32 hexagonal grid, LO and LOP fewer
_COL_GRID = {"ME": 32, "LO": 22, "LOP": 22}


def _class_of(name, family):
    m = re.match(r"[A-Za-z]+", name)
    head = m.group(0) if m else name[:3]
    if family == "VNC":
        return {"IN": "intrinsic neuron", "SN": "sensory neuron", "MN": "motor neuron"}.get(
            name[:2], "intrinsic neuron")
    if family == "MB":
        return "Kenyon_cell" if name.startswith("KC") else head
    if family == "AL":
        return "ALPN" if "PN" in name else ("ALLN" if "LN" in name else "olfactory")
    if family == "DN":
        return "DN"
    if family == "AN":
        return "AN"
    return head


def _superclass_of(name, family):
    if family == "OL":
        if name.startswith(_VCN):
            return "visual_centrifugal"
        if name.startswith(_VPN):
            return "visual_projection"
    if family == "AL" and name.startswith("ORN"):
        return "sensory"
    if family == "VNC" and name.startswith("MN"):
        return "motor"
    if family == "VNC" and name.startswith("SN"):
        return "sensory"
    return _SUPERCLASS.get(family, "cb_intrinsic")


def _flywire_name(rng, name):
    u = rng.random()
    if u < 0.7:
        return name
    if u < 0.85:                       # a FlyWire name that differs
        return name + rng.choice(["_a", "_b", "a", "b"])
    # several FlyWire types for one male-cns type: the value holds commas
    return ",".join([name + x for x in rng.sample(["_a", "_b", "_c", "a", "b"], 2)])


def _type_annotations(rng, name, family, consensus):
    """Properties shared by the neurons of one type (None: property absent).
    The type's predicted NT mostly agrees with its neurons' consensusNt."""
    a = {}
    r = rng.random
    nt_main = _wchoice(rng, list(zip(NTS, NT_WEIGHTS)))
    if consensus is not None and r() < 0.9:
        nt_main = consensus
    a["celltypePredictedNt"] = nt_main if r() < 0.93 else None      # NT on most types
    a["celltypePredictedNtConfidence"] = round(0.5 + 0.5 * r(), 3) if a["celltypePredictedNt"] else None
    a["superclass"] = _superclass_of(name, family) if r() < 0.98 else None
    a["class"] = _class_of(name, family) if r() < 0.9 else None     # classes on most neurons
    a["subclass"] = (name.rstrip("abcdefghijklmnopqrstuvwxyz_")[:6] or None) if r() < 0.45 else None
    a["dimorphism"] = _wchoice(rng, _DIMORPHISM) if r() < 0.06 else None
    if r() < 0.18:                     # synonyms: "Author 2024: name; Other 2025: name2"
        k = 1 + int(r() * 2.5)
        a["synonyms"] = "; ".join("%s: %s" % (au, name.replace("_", "") + rng.choice(["", "1", "-like", "v"]))
                                  for au in rng.sample(_AUTHORS, k))
    else:
        a["synonyms"] = None
    a["flywireType"] = _flywire_name(rng, name) if family not in ("VNC", "AN") and r() < 0.75 else None
    if family in ("VNC", "AN", "DN"):
        a["trumanHl"] = rng.choice(_HEMILINEAGES) if r() < 0.85 else None
        a["somaNeuromere"] = rng.choice(_NEUROMERES) if family != "DN" and r() < 0.9 else None
    else:
        a["trumanHl"] = a["somaNeuromere"] = None
    return a


def _root_side(rng, n):
    """rootSide next to somaSide: mostly equal; some neurons have only one of
    the two, some neither (sensory neurons without a soma, fragments)."""
    s = n.get("somaSide")
    u = rng.random()
    if s in ("L", "R"):
        if u < 0.90:
            return s
        if u < 0.91:
            return "L" if s == "R" else "R"
        return None                                 # only somaSide
    if s == "M":
        return "M" if u < 0.6 else (None if u < 0.85 else rng.choice("LR"))
    inst = n.get("instance", "")
    if inst.endswith(("_L", "_R")):
        return inst[-1] if u < 0.6 else None        # only rootSide
    return rng.choice("LR") if u < 0.15 else None


def _columns(rng, name):
    """How many column ROIs per optic neuropil a neuron of this type touches."""
    if name.startswith(_COLUMNAR):
        return 1 + int(rng.random() * 6)
    return int(math.exp(rng.uniform(math.log(8), math.log(160))))  # tangential: dozens to hundreds


def _add_columns(rng, info, name):
    """Column ROIs (ME_R_col_12_07, ...) for an optic-lobe neuron, sharing part
    of the counts of their neuropil. Not in the ROI hierarchy, not primary."""
    added = {}
    for roi, v in list(info.items()):
        base, _, side = roi.partition("(")
        grid = _COL_GRID.get(base)
        if grid is None or not side.endswith(")"):
            continue
        side = side[:-1]
        k = min(_columns(rng, name), grid * grid // 2)
        pre, post = v.get("pre", 0), v.get("post", 0)
        share = 0.5 + 0.4 * rng.random()
        cols = set()
        while len(cols) < k:
            cols.add((1 + int(rng.random() * grid), 1 + int(rng.random() * grid)))
        w = [0.2 + rng.random() for _ in cols]
        ws = sum(w)
        for (i, j), x in zip(sorted(cols), w):
            p = int(pre * share * x / ws + rng.random())
            q = int(post * share * x / ws + rng.random())
            if p or q:
                ds = p * (3 + int(rng.random() * 6))
                e = {"pre": p, "post": q, "downstream": ds, "upstream": q, "synweight": ds + q}
                added["%s_%s_col_%02d_%02d" % (base, side, i, j)] = {f: c for f, c in e.items() if c}
    return added


def _annotate(neurons, profiles, scale, seed):
    rng = random.Random(_derive("emu-annotations", STREAM, scale, seed))
    nts = {}
    for n in neurons:
        if n.get("type") is not None and n.get("consensusNt") is not None:
            c = nts.setdefault(n["type"], {})
            c[n["consensusNt"]] = c.get(n["consensusNt"], 0) + 1
    main = {t: min(c, key=lambda k: (-c[k], k)) for t, c in nts.items()}
    per_type = {t: _type_annotations(rng, t, p["family"], main.get(t))
                for t, p in profiles.items()}
    for n in neurons:
        t = n.get("type")
        rs = _root_side(rng, n)
        if rs is not None:
            n["rootSide"] = rs
        a = per_type.get(t)
        if a is None:                           # untyped neurons: a few classes only
            if rng.random() < 0.5:
                n["superclass"] = rng.choice(list(_SUPERCLASS.values()))
            continue
        for k, v in a.items():
            if v is not None and (k in ("celltypePredictedNt", "celltypePredictedNtConfidence",
                                        "synonyms", "flywireType", "dimorphism")
                                  or rng.random() < 0.97):
                n[k] = v
        if profiles[t]["family"] == "OL":
            _columns_into(rng, n, t)


def _columns_into(rng, n, name):
    info = json.loads(n["roiInfo"])
    cols = _add_columns(rng, info, name)
    if cols:
        info.update(cols)
        n["roiInfo"] = json.dumps(dict(sorted(info.items())), separators=(",", ":"))
        for k in cols:
            n[k] = True


# --------------------------------------------------------------------------
# neuprint-python's core neuron columns (CORE_NEURON_COLS): upstream,
# downstream, mito, size, statusLabel, cropped, cellBodyFiber, somaRadius,
# somaLocation. A stream of their own, drawn after everything above, so no
# earlier number moves. inputRois/outputRois are no :Neuron properties: the
# client derives them from roiInfo.
# --------------------------------------------------------------------------

_STATUS_LABELS = {
    "Traced": [("Traced", 80), ("Roughly traced", 14), ("Prelim Roughly traced", 6)],
    "Anchor": [("Anchor", 45), ("Soma Anchor", 30), ("Cervical Anchor", 15),
               ("Sensory Anchor", 10)],
    "Roughly traced": [("Roughly traced", 1)],
}
_CBF_FAMILIES = ("CB", "CX", "MB", "AL", "DN")     # cell body fibers: central brain
_CBF_HEADS = ("ADL", "ADM", "AVL", "AVM", "PDL", "PDM", "PVL", "PVM")
# neuPrintHTTP's JSON for a Neo4j point (neuprint-python keeps 'coordinates')
_CRS = {"srid": 9157, "name": "cartesian-3d", "type": "link",
        "properties": {"href": "http://spatialreference.org/ref/sr-org/9157/ogcwkt/",
                       "type": "ogcwkt"}}
_MIDLINE_X = 47500


def _set_flow(n, primary):
    """Neuron upstream/downstream from its roiInfo: upstream is its post
    count (one connection per PSD, as the ROI entries have it); downstream is
    the primary ROIs' downstream plus the synapses outside them, each with
    a fan-out of 3..8 fixed by the bodyId. No random draw: a mutated neuron
    gets its numbers without moving the mutation's stream."""
    ds = pre_in = 0
    for k, v in json.loads(n["roiInfo"]).items():
        if k in primary:
            ds += v.get("downstream", 0)
            pre_in += v.get("pre", 0)
    n["upstream"] = n.get("post", 0)
    n["downstream"] = ds + max(0, n.get("pre", 0) - pre_in) * (3 + n["bodyId"] % 6)


def _soma_odds(name, family):
    """Probability that a neuron of this type has its soma in the volume:
    sensory neurons (ORNs, SN*, CV fragments) mostly do not."""
    if family == "CVX" or (family == "VNC" and name.startswith("SN")) \
            or (family == "AL" and name.startswith("ORN")):
        return 0.03
    return 0.93


def _soma_side(rng, n):
    s = n.get("somaSide") or n.get("rootSide")
    if s in ("L", "R", "M"):
        return s
    inst = n.get("instance", "")
    if inst.endswith(("_L", "_R", "_M")):
        return inst[-1]
    return "L" if rng.random() < 0.5 else "R"


def _soma_location(rng, side, family):
    """A Point in 8 nm voxels: R somas left of the midline in x, L right of
    it, M on it; optic-lobe somas lateral, VNC/AN somas below the brain."""
    r = rng.random
    if side == "M":
        dx = int(r() * 3000) - 1500
    else:
        lo, hi = (28000, 42000) if family == "OL" else (3000, 26000)
        dx = lo + int(r() * (hi - lo))
        dx = -dx if side == "R" else dx
    z = 85000 + int(r() * 80000) if family in ("VNC", "AN") else 5000 + int(r() * 65000)
    return {"type": "Point", "crs": _CRS,
            "coordinates": [_MIDLINE_X + dx, 8000 + int(r() * 52000), z]}


def _type_core(rng, name, family):
    cbf = None
    if family in _CBF_FAMILIES and rng.random() < 0.85:
        cbf = "%s%02d" % (rng.choice(_CBF_HEADS), 1 + int(rng.random() * 30))
    return {"cbf": cbf, "soma": _soma_odds(name, family), "family": family}


def _core(neurons, profiles, scale, seed):
    """Give every neuron the core columns. Null rates (cns): statusLabel,
    size, mito, upstream, downstream never absent; cropped absent on ~3%;
    soma fields absent on sensory neurons and ~7% of the rest; cellBodyFiber
    only on central-brain types (not optic lobe, VNC, AN)."""
    rng = random.Random(_derive("emu-core", STREAM, scale, seed))
    primary = frozenset(roi_model().primary)
    per_type = {t: _type_core(rng, t, p["family"])
                for t, p in sorted(profiles.items(), key=lambda x: x[0].encode("utf-8"))}
    labels = {s: ([x for x, _ in w], [c for _, c in w]) for s, w in _STATUS_LABELS.items()}
    r = rng.random
    for n in neurons:
        tc = per_type.get(n.get("type"))
        if tc is None:                          # untyped: (PDM07)_L names its fiber
            m = re.match(r"\(([A-Z]{3}\d\d)\)", n.get("instance", ""))
            tc = {"cbf": m.group(1) if m else None, "soma": 0.3, "family": "CB"}
        _set_flow(n, primary)
        st = n.get("status")
        if st in labels:
            names, weights = labels[st]
            n["statusLabel"] = rng.choices(names, weights)[0]
        if r() < 0.97:
            n["cropped"] = r() < (0.15 if tc["soma"] < 0.5 else 0.02)
        syn = n.get("pre", 0) + n.get("post", 0)
        size = int((syn + 50) * math.exp(rng.gauss(math.log(3.5e5), 0.5)))
        n["size"] = size
        n["mito"] = int(size / 4e6 * math.exp(rng.gauss(0.0, 0.3)))
        if r() < tc["soma"]:
            n["somaLocation"] = _soma_location(rng, _soma_side(rng, n), tc["family"])
            radius = min(1200.0, max(120.0, math.exp(rng.gauss(math.log(300), 0.35))))
            n["somaRadius"] = round(2 * radius) / 2
            if tc["cbf"] is not None and r() < 0.95:
                n["cellBodyFiber"] = tc["cbf"]


def _generate(scale, seed, types_file):
    rng = random.Random(_derive("emu-dataset", STREAM, scale, seed))
    roi = roi_model()
    specs, n_untyped = _type_specs(scale, rng, types_file)
    total = sum(sp["size"] for sp in specs) + n_untyped
    body_ids = rng.sample(range(10000, 10 ** 11), total)
    bi = 0
    neurons = []
    profiles = {}
    status_pairs = STATUS
    for sp in specs:
        name = sp["name"]
        prof = _make_profile(rng, sp["family"])
        profiles[name] = prof
        cat = sp["cat"]
        main_nt = _wchoice(rng, list(zip(NTS, NT_WEIGHTS)))
        alt_nt = NTS[(NTS.index(main_nt) + 1 + rng.randrange(len(NTS) - 1)) % len(NTS)]
        one_side = "R" if rng.random() < 0.6 else "L"
        size = sp["size"]
        for j in range(size):
            n = {"bodyId": body_ids[bi], "type": name}
            bi += 1
            if cat == "pair":
                side = ("R", "L")[j % 2] if j < 2 or rng.random() < 0.9 else ("R" if rng.random() < 0.5 else "L")
                n["instance"] = name + "_" + side
                if rng.random() >= 0.03:       # a few lack somaSide
                    n["somaSide"] = side
            elif cat == "pairM":               # L/R pairs plus a midline neuron
                side = "M" if j == 0 else ("R", "L")[j % 2]
                n["instance"] = name + "_" + side
                n["somaSide"] = side
            elif cat == "one":
                n["instance"] = name + "_" + one_side
                n["somaSide"] = one_side
            elif cat == "mid":
                n["instance"] = name + "_M" if rng.random() < 0.5 else name
                n["somaSide"] = "M"
            elif cat == "inst":
                n["instance"] = name + "_" + ("R", "L")[j % 2]
            elif cat == "noneM":
                n["instance"] = name + "_M"
            else:
                n["instance"] = name
            n["status"] = _wchoice(rng, status_pairs)
            nt_mode = sp["nt"]
            if nt_mode == "normal":
                u = rng.random()
                if u < 0.87:
                    n["consensusNt"] = main_nt
                elif u < 0.98:
                    n["consensusNt"] = NTS[rng.randrange(len(NTS))]
            elif nt_mode == "tie":
                n["consensusNt"] = (main_nt, alt_nt)[j % 2]
            info, npre, npost = _neuron_rois(rng, prof, _home_side(rng, n), roi)
            _set_roi(n, info, npre, npost)
            neurons.append(n)
    for j in range(n_untyped):
        side = ("L", "R")[j % 2]
        n = {"bodyId": body_ids[bi], "instance": "(PDM%02d)_%s" % (rng.randint(1, 30), side)}
        bi += 1
        if rng.random() < 0.5:
            n["somaSide"] = side
        n["status"] = "Anchor"
        if rng.random() < 0.7:
            n["consensusNt"] = NTS[rng.randrange(len(NTS))]
        prof = _make_profile(rng, rng.choice(FAMILY_ORDER))
        info, npre, npost = _neuron_rois(rng, prof, side, roi)
        _set_roi(n, info, npre, npost)
        neurons.append(n)
    neurons.sort(key=lambda x: x["bodyId"])
    meta = {
        "dataset": DATASET_NAME,
        "tag": DATASET_TAG,
        "uuid": "%032x" % rng.getrandbits(128),
        "lastDatabaseEdit": _timestamp(rng),
    }
    _annotate(neurons, profiles, scale, seed)
    _core(neurons, profiles, scale, seed)
    return neurons, meta, profiles


def _finish_meta(meta, neurons, roi, scale):
    sums = {name: [0, 0, 0, 0, 0] for name in roi.all_names}
    tpre = tpost = 0
    for n in neurons:
        tpre += n.get("pre", 0)
        tpost += n.get("post", 0)
        for k, v in json.loads(n["roiInfo"]).items():
            s = sums.get(k)
            if s is None:
                s = sums[k] = [0, 0, 0, 0, 0]
            s[0] += v.get("pre", 0)
            s[1] += v.get("post", 0)
            s[2] += v.get("downstream", 0)
            s[3] += v.get("upstream", 0)
            s[4] += v.get("synweight", 0)
    info = {k: dict(zip(FIELDS, sums[k])) for k in sorted(sums)}
    meta.update({
        "totalPreCount": tpre,
        "totalPostCount": tpost,
        "primaryRois": sorted(roi.primary),
        # neuPrint's builder writes the primary ROIs as superLevelRois too
        "superLevelRois": sorted(roi.primary),
        "roiInfo": json.dumps(info, separators=(",", ":")),
        "roiHierarchy": json.dumps(_tree_json(roi.root), separators=(",", ":")),
        "neuroglancerInfo": json.dumps({
            "segmentation": {"host": "precomputed://gs://emu-neuprint/%s/segmentation" % scale},
            "grayscale": {"host": "precomputed://gs://emu-neuprint/%s/em" % scale}}),
        "neuroglancerMeta": json.dumps([
            {"name": "em", "dataType": "grayscale",
             "source": "precomputed://gs://emu-neuprint/%s/em" % scale},
            {"name": "segmentation", "dataType": "segmentation",
             "source": "precomputed://gs://emu-neuprint/%s/segmentation" % scale}]),
        "statusDefinitions": json.dumps({
            "Traced": "Neuron reconstruction is complete",
            "Anchor": "Large fragment, soma or major arbor identified",
            "Roughly traced": "Reconstruction mostly complete"}),
        "voxelSize": [8.0, 8.0, 8.0],
        "voxelUnits": "nanometers",
        "info": "https://neuprint-emu.invalid/%s" % scale,
        "hideDataset": False,
    })


def _mutate(neurons, meta, profiles, seed, frac, annotations_only=False):
    """Change round(frac * neurons) neurons. A reconstruction change (default)
    regenerates roiInfo and gives the dataset a new uuid; annotations_only
    changes types, NT and synonyms only: the uuid stays, as on neuPrint, and
    only lastDatabaseEdit moves."""
    rng = random.Random(_derive("emu-mutate", STREAM, seed, repr(float(frac)))
                        if not annotations_only else
                        _derive("emu-annotate", STREAM, seed, repr(float(frac))))
    roi = roi_model()
    primary = frozenset(roi.primary)
    nmut = int(round(frac * len(neurons)))
    types = sorted((t for t in profiles), key=lambda s: s.encode("utf-8"))
    idx = sorted(rng.sample(range(len(neurons)), nmut)) if nmut else []
    for i in idx:
        n = dict(neurons[i])
        old_keys = list(json.loads(n["roiInfo"]))
        t = n.get("type")
        if t is not None and rng.random() < 0.1 and len(types) > 1:
            nt = types[rng.randrange(len(types))]
            if nt != t:
                inst = n.get("instance", "")
                suffix = inst[len(t):] if inst.startswith(t) else ""
                n["type"] = nt
                n["instance"] = nt + suffix
                t = nt
        if rng.random() < 0.3:
            if rng.random() < 0.15:
                n.pop("consensusNt", None)
            else:
                n["consensusNt"] = NTS[rng.randrange(len(NTS))]
        if annotations_only:
            if rng.random() < 0.5:
                n["synonyms"] = "Emu 2026: %s" % (n.get("type") or "untyped")
            neurons[i] = n
            continue
        prof = profiles.get(t) if t is not None else None
        if prof is None:
            prof = _make_profile(rng, rng.choice(FAMILY_ORDER))
        info, npre, npost = _neuron_rois(rng, prof, _home_side(rng, n), roi)
        if prof.get("family") == "OL" and t is not None:
            info.update(_add_columns(rng, info, t))
            info = dict(sorted(info.items()))
        _set_roi(n, info, npre, npost, old_keys)
        _set_flow(n, primary)
        neurons[i] = n
    if not annotations_only:
        meta["uuid"] = "%032x" % rng.getrandbits(128)
    meta["lastDatabaseEdit"] = _timestamp(rng, 2026)
    return nmut


# --------------------------------------------------------------------------
# Dataset
# --------------------------------------------------------------------------

class Dataset:
    """neurons, by_type, by_body, meta, parsed_roi(), floor_inputs()."""

    def __init__(self, neurons, meta, profiles, params):
        self.neurons = neurons
        self.meta = meta
        self.profiles = profiles
        self.params = params
        self._index()

    def _index(self):
        by_type = {}
        by_body = {}
        for n in self.neurons:
            by_body[n["bodyId"]] = n
            t = n.get("type")
            if t is not None:
                lst = by_type.get(t)
                if lst is None:
                    by_type[t] = [n]
                else:
                    lst.append(n)
        self.by_type = by_type
        self.by_body = by_body
        self.primary_rois = list(self.meta["primaryRois"])
        self._parsed = {}
        self._names = {}
        self._floor = None

    def __getstate__(self):
        return {"neurons": self.neurons, "meta": self.meta,
                "profiles": self.profiles, "params": self.params}

    def __setstate__(self, st):
        self.neurons = st["neurons"]
        self.meta = st["meta"]
        self.profiles = st["profiles"]
        self.params = st["params"]
        self._index()

    @property
    def types(self):
        """Type names that have neurons, byte order."""
        return sorted(self.by_type, key=lambda s: s.encode("utf-8"))

    def _parse(self, text):
        names = self._names
        fields = _FIELD_NAMES
        out = {}
        for k, v in json.loads(text).items():
            k = names.setdefault(k, k)          # share ROI name strings
            try:
                out[k] = {fields.get(f, f): c for f, c in v.items()}
            except AttributeError:
                out[k] = v
        return out

    def parsed_roi(self, neuron):
        """json.loads(neuron['roiInfo']), cached by bodyId; callers must not
        mutate the answer. O(1) once the neuron has been seen (or warm())."""
        key = neuron["bodyId"]
        p = self._parsed.get(key)
        if p is None:
            p = self._parse(neuron["roiInfo"])
            self._parsed[key] = p
        return p

    def warm(self):
        """Parse every neuron's roiInfo now (so later parsed_roi calls are O(1))."""
        with _no_gc():
            pr = self.parsed_roi
            for n in self.neurons:
                pr(n)

    def _floor_per_type(self):
        if self._floor is None:
            primary = set(self.primary_rois)
            per = {}
            for t, ns in self.by_type.items():
                pre = post = 0
                rois = {}
                for n in ns:
                    pre += n.get("pre", 0)
                    post += n.get("post", 0)
                    for k, v in self.parsed_roi(n).items():
                        if k in primary:
                            e = rois.get(k)
                            if e is None:
                                rois[k] = [v.get("pre", 0), v.get("post", 0)]
                            else:
                                e[0] += v.get("pre", 0)
                                e[1] += v.get("post", 0)
                first = ns[0]
                cells = [t, first.get("somaSide"), first.get("instance"),
                         first.get("consensusNt"), len(ns), pre, post]
                nbytes = len(_compact(cells))
                for k in sorted(rois):
                    nbytes += len(_compact([t, k, rois[k][0], rois[k][1]]))
                per[t] = (len(ns), 1 + len(rois), nbytes)
            self._floor = per
        return self._floor

    def floor_inputs(self, types=None):
        """Minimum work for create-index over `types` (default: every type).

        neurons: neurons of those types; rows: one CELLS row per type + one
        ROIS row per (type, primary ROI) present; bytes: compact UTF-8 JSON of
        those rows inside the two answers' {"columns":[...],"data":[...]}.
        """
        per = self._floor_per_type()
        if types is None:
            names = list(per)
        else:
            seen = {}
            names = []
            for t in types:
                if t in per and t not in seen:
                    seen[t] = True
                    names.append(t)
        neurons = rows = nbytes = 0
        ntypes = len(names)
        for t in names:
            a, b, c = per[t]
            neurons += a
            rows += b
            nbytes += c
        cells_env = len(_compact({"columns": ["type", "side", "instance", "nt", "cells",
                                              "pre", "post"], "data": []}))
        rois_env = len(_compact({"columns": ["type", "roi", "pre", "post"], "data": []}))
        nbytes += cells_env + rois_env
        nbytes += max(0, ntypes - 1) + max(0, rows - ntypes - 1)   # commas
        return {"neurons": neurons, "rows": rows, "bytes": nbytes}


class _no_gc:
    """Suspend the cyclic GC while building millions of acyclic containers."""

    def __enter__(self):
        self.was = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc):
        if self.was:
            gc.enable()
        return False


def _compact(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# --------------------------------------------------------------------------
# build + cache
# --------------------------------------------------------------------------

def default_cache_dir():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "neuprint-emu")


def _source_hash():
    """The generator's own source: any edit invalidates old cache entries."""
    try:
        with open(os.path.abspath(__file__), "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return None


def _cache_key(scale, seed, types_file, mutate_frac, annotate_frac=0.0, flavor="cns"):
    th = None
    if types_file is not None:
        with open(types_file, "rb") as f:
            th = hashlib.sha256(f.read()).hexdigest()
    text = json.dumps({"v": GENERATOR_VERSION, "src": _source_hash(), "scale": scale, "seed": repr(seed),
                       "types": th, "mutate": repr(float(mutate_frac)),
                       "annotate": repr(float(annotate_frac)), "flavor": flavor}, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _cache_load(path):
    try:
        with open(path, "rb") as f, _no_gc():
            ds = pickle.load(f)
        return ds if isinstance(ds, Dataset) else None
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ValueError,
            ImportError, IndexError, TypeError):
        return None


def _cache_store(path, ds):
    d = os.path.dirname(path)
    try:
        os.makedirs(d, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".pickle", dir=d)
        try:
            with os.fdopen(fd, "wb") as f:
                pickle.dump(ds, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    except OSError:
        pass    # a cache that cannot be written is not an error


def build(scale="demo", seed=1, types_file=None, mutate_frac=0.0, cache_dir=None,
          annotate_frac=0.0, flavor="cns"):
    """The dataset for these arguments. cache_dir=None: default directory;
    cache_dir=False (or ""): no cache at all. mutate_frac: reconstruction
    changes (new uuid); annotate_frac: annotation-only changes (same uuid, new
    lastDatabaseEdit), applied after mutate_frac. flavor: see FLAVORS."""
    if scale not in SCALES:
        raise ValueError("scale must be one of tiny, demo, cns: %r" % (scale,))
    if flavor not in FLAVORS:
        raise ValueError("flavor must be one of %s: %r" % (", ".join(FLAVORS), flavor))
    mutate_frac = float(mutate_frac)
    annotate_frac = float(annotate_frac)
    for what, x in (("mutate_frac", mutate_frac), ("annotate_frac", annotate_frac)):
        if not 0.0 <= x <= 1.0:
            raise ValueError("%s must be within [0, 1]" % what)
    use_cache = cache_dir is not False and cache_dir != ""
    if use_cache and cache_dir is None:
        cache_dir = default_cache_dir()
    path = None
    if use_cache:
        path = os.path.join(cache_dir, "%s-%s.pickle" % (scale, _cache_key(
            scale, seed, types_file, mutate_frac, annotate_frac, flavor)))
        ds = _cache_load(path)
        if ds is not None:
            return ds
    params = {"scale": scale, "seed": seed, "types_file": types_file,
              "mutate_frac": mutate_frac, "annotate_frac": annotate_frac,
              "flavor": flavor, "version": GENERATOR_VERSION}
    cd = cache_dir if use_cache else False
    with _no_gc():
        if flavor != "cns":
            base = build(scale, seed, types_file, mutate_frac, cd, annotate_frac)
            neurons, meta = _flavor(base.neurons, base.meta, flavor)
            ds = Dataset(neurons, meta, base.profiles, params)
        elif annotate_frac > 0.0:
            base = build(scale, seed, types_file, mutate_frac, cd)
            neurons = list(base.neurons)
            meta = dict(base.meta)
            params["annotated"] = _mutate(neurons, meta, base.profiles, seed, annotate_frac,
                                          annotations_only=True)
            ds = Dataset(neurons, meta, base.profiles, params)
        else:
            ds = _build_uncached(scale, seed, types_file, mutate_frac, cache_dir, use_cache, params)
    if use_cache:
        _cache_store(path, ds)
    return ds


def _build_uncached(scale, seed, types_file, mutate_frac, cache_dir, use_cache, params):
    if mutate_frac > 0.0:
        base = build(scale, seed, types_file, 0.0, cache_dir if use_cache else False)
        neurons = [n for n in base.neurons]       # mutated neurons are replaced by copies
        meta = {"dataset": base.meta["dataset"], "tag": base.meta.get("tag"),
                "uuid": base.meta["uuid"], "lastDatabaseEdit": base.meta["lastDatabaseEdit"]}
        params["mutated"] = _mutate(neurons, meta, base.profiles, seed, mutate_frac)
        profiles = base.profiles
    else:
        neurons, meta, profiles = _generate(scale, seed, types_file)
    _finish_meta(meta, neurons, roi_model(), scale)
    return Dataset(neurons, meta, profiles, params)


# --------------------------------------------------------------------------
# flavors: other datasets' property names and side conventions
# --------------------------------------------------------------------------

_FAFB_SIDE = {"L": "left", "R": "right", "M": "center"}
_MANC_SIDE = {"L": "LHS", "R": "RHS", "M": "Midline"}
_CNS_ONLY = ("celltypePredictedNt", "celltypePredictedNtConfidence", "dimorphism",
             "synonyms", "somaNeuromere", "trumanHl")


def _flavor(neurons, meta, flavor):
    """Copies of the cns neurons and Meta renamed as FLAVORS[flavor] names them."""
    name, tag = FLAVORS[flavor]
    out = []
    for n in neurons:
        n = dict(n)
        side = n.get("rootSide") or n.get("somaSide")
        if flavor == "fafb":
            # FlyWire: one `side` property (left/right/center), predictedNt
            for k in ("rootSide", "somaSide", "flywireType") + _CNS_ONLY:
                n.pop(k, None)
            if side in _FAFB_SIDE:
                n["side"] = _FAFB_SIDE[side]
            nt = n.pop("consensusNt", None)
            if nt is not None:
                n["predictedNt"] = nt
        elif flavor == "hemibrain":
            # hemibrain v1.2.1: no side properties (the instance says _L/_R), no NT
            for k in ("rootSide", "somaSide", "consensusNt", "flywireType") + _CNS_ONLY:
                n.pop(k, None)
        elif flavor == "optic-lobe":
            # optic-lobe: instances carry the side as "-R" or "(L)"
            for k in ("somaNeuromere", "trumanHl"):
                n.pop(k, None)
            inst = n.get("instance", "")
            t = n.get("type")
            if t and inst in (t + "_L", t + "_R") and (n["bodyId"] % 3):
                n["instance"] = t + ("-%s" if n["bodyId"] % 3 == 1 else "(%s)") % inst[-1]
        elif flavor == "manc":
            # MANC: LHS/RHS/Midline sides, predictedNt, no brain-only fields
            for k in ("rootSide", "somaSide"):
                if n.get(k) in _MANC_SIDE:
                    n[k] = _MANC_SIDE[n[k]]
            nt = n.pop("consensusNt", None)
            if nt is not None:
                n["predictedNt"] = nt
            n.pop("celltypePredictedNt", None)
            n.pop("celltypePredictedNtConfidence", None)
        out.append(n)
    meta = dict(meta)
    meta["dataset"] = name
    meta["tag"] = tag
    return out, meta
