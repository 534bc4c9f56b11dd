"""neuprint-python (the real client, unchanged) against the emulator.

Not part of the meson suites: the client's source is not in this checkout
and CI cannot fetch it. Run it by hand (README.md, "neuprint-python"):

    NEUPRINT_PYTHON_SRC=/tmp/np-0.6.1 /usr/bin/python3 -m unittest tests.test_neuprint_python -v

NEUPRINT_PYTHON_SRC is a directory holding the `neuprint` package (a
`git archive` of connectome-neuprint/neuprint-python). Its dependencies come
from Debian 12 (python3-pandas, -requests, -tqdm, -ujson, -asciitree, -scipy,
-networkx, -packaging, -urllib3). Without NEUPRINT_PYTHON_SRC the test fails:
it never skips.

Debian 12 has no pyarrow, which neuprint-python 0.6.x imports at module
level. When it is missing, the test installs a module named pyarrow whose
every attribute access raises: so the calls below also prove that the
client took its JSON path (fetch_custom's default, use_arrow=False).
"""

import os
import sys
import types
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from srv_util import TOKEN, Emu  # noqa: E402

SRC = os.environ.get("NEUPRINT_PYTHON_SRC")


class _NoArrow(types.ModuleType):
    def __getattr__(self, name):
        raise AssertionError("neuprint-python used pyarrow.%s: the emulator serves JSON only"
                             % name)


def _import_neuprint():
    if not SRC or not os.path.isdir(os.path.join(SRC, "neuprint")):
        raise AssertionError("set NEUPRINT_PYTHON_SRC to a neuprint-python source tree "
                             "(see this file's docstring)")
    import pandas  # noqa: F401  (first: pandas probes for a real pyarrow itself)
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        sys.modules["pyarrow"] = _NoArrow("pyarrow")
    sys.path.insert(0, SRC)
    import neuprint
    return neuprint


MODES = {
    # mode: (emulator flags, dataset name, does the server rewrite labels)
    "1.9.2+dsg": (("--dataset", "male-cns:v1.0"), "male-cns:v1.0", True),
    "1.7.2+v17": (("--server-version", "1.7.2", "--dataset", "male-cns:v1.0"), "male-cns:v1.0",
                  False),
    "1.9.2+dsg, cns name": (("--dataset", "cns"), "cns", True),
}


class TestNeuprintPython(unittest.TestCase):
    def test_calls_in_every_mode(self):
        neuprint = _import_neuprint()
        for mode, (flags, name, v19) in MODES.items():
            with self.subTest(mode=mode):
                e = Emu(*flags, server=(), scale="tiny")
                try:
                    self.check(neuprint, e, name, v19)
                finally:
                    e.stop()

    def check(self, neuprint, e, name, v19):
        from neuprint import (Client, NeuronCriteria, fetch_meta, fetch_neurons,
                              fetch_primary_rois, fetch_roi_hierarchy)
        c = Client(e.url, dataset=name, token=TOKEN, verify=e.ca, progress=False)
        self.assertEqual(c.dataset, name)
        meta = fetch_meta(client=c)
        self.assertEqual(meta["dataset"], "male-cns")
        self.assertEqual(meta["tag"], "v1.0")
        self.assertEqual(meta["superLevelRois"], meta["primaryRois"])
        rois = fetch_primary_rois(client=c)
        self.assertIn("ME(R)", rois)
        self.assertEqual(rois, sorted(meta["primaryRois"]))
        h = fetch_roi_hierarchy(client=c, mark_primary=False, format="dict")
        self.assertIn("CNS", h)
        neurons, roi_counts = fetch_neurons(NeuronCriteria(type="T4a", regex=False), client=c)
        self.assertGreater(len(neurons), 5)
        self.assertTrue((neurons["type"] == "T4a").all())
        for col in ("rootSide", "somaSide", "celltypePredictedNt", "superclass"):
            self.assertIn(col, neurons.columns)
        self.assertTrue(roi_counts["roi"].str.contains("_col_").any())   # column ROIs
        self.check_core(neurons, roi_counts, rois)
        df = c.fetch_custom("MATCH (n:Neuron) WHERE n.type = 'T4a' RETURN count(n) AS c")
        self.assertEqual(int(df["c"][0]), len(neurons))
        # the 1.9 rewrite reaches into literals (the client cannot help it)
        df = c.fetch_custom("RETURN 'x:Neuron' AS s")
        self.assertEqual(df["s"][0], "x:`%s_Neuron`" % name.split(":")[0] if v19 else "x:Neuron")

    def check_core(self, neurons, roi_counts, primary):
        """The client's core columns (CORE_NEURON_COLS) are all there, with
        the lists it derives from roiInfo; its ROI table has upstream and
        downstream beside pre and post, and its NotPrimary rows (totals minus
        the primary ROIs) are never negative."""
        from neuprint.queries.neurons import CORE_NEURON_COLS
        # the stored ones first, in the client's order; the ROI lists it adds
        stored = [c for c in CORE_NEURON_COLS if c not in ("inputRois", "outputRois")]
        self.assertEqual(list(neurons.columns[:len(stored)]), stored)
        self.assertLessEqual(set(CORE_NEURON_COLS), set(neurons.columns))
        for col in ("upstream", "downstream", "mito", "size", "statusLabel"):
            self.assertFalse(neurons[col].isnull().any(), col)
        self.assertTrue((neurons["upstream"] == neurons["post"]).all())
        self.assertTrue((neurons["downstream"] >= 3 * neurons["pre"]).all())
        self.assertTrue(neurons["somaLocation"].dropna().map(len).eq(3).all())  # [x, y, z]
        self.assertTrue(neurons["inputRois"].map(len).gt(0).all())
        for col in ("pre", "post", "downstream", "upstream", "mito"):
            self.assertIn(col, roi_counts.columns)
        self.assertTrue((roi_counts[["pre", "post", "downstream", "upstream"]] >= 0).all().all())
        prim = roi_counts[roi_counts["roi"].isin(primary)]
        self.assertTrue((prim["upstream"] == prim["post"]).all())
        self.assertGreater(int(prim["downstream"].sum()), 3 * int(prim["pre"].sum()) - 1)
        # per neuron, the primary rows plus NotPrimary give the neuron's totals
        rows = roi_counts[roi_counts["roi"].isin(primary) | (roi_counts["roi"] == "NotPrimary")]
        per = rows.groupby("bodyId")[["upstream", "downstream"]].sum()
        tot = neurons.set_index("bodyId")[["upstream", "downstream"]].loc[per.index]
        self.assertTrue((per == tot).all().all())


if __name__ == "__main__":
    unittest.main()
