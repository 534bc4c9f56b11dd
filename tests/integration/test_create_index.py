"""create-index end to end against the neuPrint emulator.

Each test compares the product's types.json with the emulator's oracle,
which computes the answer straight from the generated data by the rules of
docs/create-index.md, sharing no code with the product.
"""
import hashlib
import html.parser
import json
import os
import re
import shutil
import subprocess
import sys
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402


class IndexPage(html.parser.HTMLParser):
    """Checks nesting and collects text, so every type name can be found."""
    VOID = {"meta", "link", "br", "img", "input", "hr", "wbr", "source"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack = []
        self.text = []
        self.errors = []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append("unexpected </%s> (open: %s)" % (tag, self.stack[-3:]))
            return
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


NODE_CHECK = r"""
const fs = require('fs'), vm = require('vm');
const ctx = {}; vm.createContext(ctx);
vm.runInContext(fs.readFileSync(process.argv[process.argv.length - 1], 'utf8'), ctx);
process.stdout.write(JSON.stringify({types: ctx.NEURON_TYPES_DATA, data: ctx.NEURON_DATA}));
"""


class Base(unittest.TestCase):
    scale = "tiny"
    seed = 1
    types_file = None

    def site(self, work, name="site"):
        out = os.path.join(work, name)
        h.make_pages(out, self.scale, self.seed, self.types_file)
        return out

    def check_against_oracle(self, work, emu, out, *args):
        cfg = h.write_config(os.path.join(work, "site.yaml"), emu.url, out, emu.ca)
        r = h.run(cfg, *args)
        self.assertEqual(r.returncode, 0, r.stderr)
        last = r.stdout.strip().splitlines()[-1]
        if "--json" in args:
            last = json.loads(last)["index"]
        self.assertEqual(last, os.path.join(out, "index.html"))
        want = h.oracle(out, self.scale, self.seed, self.types_file)
        got = h.load_types(out)
        h.assert_same_index(self, got, want)
        return got, r

    def check_outputs(self, out, types):
        names = [t["name"] for t in types["types"]]
        p = IndexPage()
        with open(os.path.join(out, "index.html"), encoding="utf-8") as f:
            p.feed(f.read())
        p.close()
        self.assertEqual(p.errors, [])
        self.assertEqual(p.stack, [])
        text = "".join(p.text)
        for n in names:
            self.assertIn(n, text)
        js = os.path.join(out, "static", "js", "neuron-search.js")
        node = shutil.which("node") or shutil.which("nodejs")
        # tools/deps installs nodejs; without it the check fails, not skips.
        self.assertIsNotNone(node, "node not installed (Debian package "
                             "nodejs; tools/deps installs it)")
        r = subprocess.run([node, "-e", NODE_CHECK, js], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, check=True)
        got = json.loads(r.stdout)
        self.assertEqual(got["types"], sorted(names, key=lambda s: s.encode()))
        self.assertEqual([d["name"] for d in got["data"]], got["types"])
        for d, t in zip(got["data"], types["types"]):
            # QuickPage's script calls the combined page "both" (types.json: "combined").
            self.assertEqual(d["urls"], {("both" if k == "combined" else k): v
                                         for k, v in t["urls"].items()})
            for side in ("both", "left", "right", "middle"):
                if side in d["urls"]:
                    self.assertEqual(d["primary_url"], d["urls"][side])
                    break


class TestTiny(Base):
    def test_tiny_matches_oracle(self):
        with h.Workdir() as work, h.Emulator(work, "tiny", self.seed) as emu:
            out = self.site(work)
            got, r = self.check_against_oracle(work, emu, out)
            self.check_outputs(out, got)
            self.assertTrue(got["unmatched"], "the page set has orphan pages")
            self.assertIn("unmatched", r.stdout)

    def test_neuview_rules_flat(self):
        """quickpaged.rules: neuview and a threshold on a flat site."""
        with h.Workdir() as work, h.Emulator(work, "tiny", self.seed) as emu:
            out = self.site(work)
            cfg = h.write_config(os.path.join(work, "site.yaml"), emu.url, out, emu.ca,
                                 extra="  rules: neuview\n  roi_threshold_pct: 2.5\n")
            r = h.run(cfg)
            self.assertEqual(r.returncode, 0, r.stderr)
            want = h.oracle(out, self.scale, self.seed, rules="neuview", threshold=2.5)
            got = h.load_types(out)
            h.assert_same_index(self, got, want)
            self.assertEqual((got["layout"], got["rules"]), ("quickpage", "neuview"))
            self.assertTrue(any(len(t["parent_rois"]) > 1 for t in got["types"]))
            self.assertTrue(any(len(t["roi_summary"]) > 5 for t in got["types"]))

    def test_quick_needs_no_network(self):
        """Nothing listens at port 9, and no token is anywhere."""
        with h.Workdir() as work:
            out = self.site(work)
            cfg = h.write_config(os.path.join(work, "site.yaml"),
                                 "https://127.0.0.1:9", out, token=None)
            r = h.run(cfg, "--quick")
            self.assertEqual(r.returncode, 0, r.stderr)
            got = h.load_types(out)
            self.assertIsNone(got["dataset_version"])
            self.assertEqual(got["unmatched"], [])
            stems = {t["name"] for t in got["types"]}
            want = h.oracle(out, self.scale, self.seed)
            self.assertEqual(len(stems), len(want["types"]))
            self.check_outputs(out, got)

    def test_no_token_without_quick(self):
        with h.Workdir() as work:
            out = self.site(work)
            before = h.tree_digest(out)
            cfg = h.write_config(os.path.join(work, "site.yaml"),
                                 "https://127.0.0.1:9", out, token=None)
            r = h.run(cfg)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("key 'neuprint.token': no token", r.stderr)
            self.assertIn("--quick", r.stderr)
            self.assertEqual(h.tree_digest(out), before)


NODE_NEURONS_JS = r"""
const fs = require('fs'), vm = require('vm');
const ctx = {window: {}}; vm.createContext(ctx);
vm.runInContext(fs.readFileSync(process.argv[process.argv.length - 1], 'utf8'), ctx);
process.stdout.write(JSON.stringify(ctx.window.NEURON_DATA_FALLBACK));
"""

LINK_RE = re.compile(r'(?:href|src)="([^"#?]+)')


class Links(IndexPage):
    """IndexPage plus the hrefs, the text of each <h2>, and the tag buttons."""

    def __init__(self):
        super().__init__()
        self.hrefs, self.h2, self.buttons = [], [], 0

    def handle_starttag(self, tag, attrs):
        super().handle_starttag(tag, attrs)
        a = dict(attrs)
        if tag == "a" and "href" in a:
            self.hrefs.append(a["href"])
        if tag == "h2":
            self.h2.append("")
        # A tag is a <button>, or an inline <span role="button"> that Tab
        # reaches (types.js: a <button> is a layout box of its own).
        if "tag" in a.get("class", "").split() and (
                tag == "button" or (a.get("role") == "button" and a.get("tabindex") == "0")):
            self.buttons += 1

    def handle_data(self, data):
        super().handle_data(data)
        if "h2" in self.stack and self.h2:
            self.h2[-1] += data


def neuview_check(test, out):
    """types.html and neuron-search.js of a neuView site (neuview_check.js
    in node), its no-JavaScript list and its cards' HTML; returns the
    bytes per type of types.html."""
    got = h.load_types(out)
    node = shutil.which("node") or shutil.which("nodejs")
    test.assertIsNotNone(node, "node not installed (Debian package nodejs; "
                         "tools/deps installs it)")
    r = subprocess.run([node, os.path.join(h.ROOT, "tests", "integration",
                                           "neuview_check.js"), out],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    test.assertEqual(r.returncode, 0, r.stderr)
    res = json.loads(r.stdout)
    test.assertEqual(res["rows"], len(got["types"]))
    with open(os.path.join(out, "types.html"), encoding="utf-8") as f:
        page = f.read()
    # The page as a browser without JavaScript has it: one list of links.
    p = Links()
    p.feed(page)
    p.close()
    test.assertEqual((p.errors, p.stack), ([], []))
    text = "".join(p.text)
    for t in got["types"]:
        test.assertIn(t["name"], text)
    want = sorted(f for t in got["types"] for f in t["urls"].values())
    local = [x for x in p.hrefs if x.startswith("types/")]
    test.assertEqual(sorted(set(urllib.parse.unquote(x) for x in local)), want)
    for x in (x for x in p.hrefs if not x.startswith("#")):
        test.assertTrue(os.path.exists(os.path.join(out, urllib.parse.unquote(x))), x)
    # The cards the script builds: full names, existing links, tag buttons.
    for t, card in zip(got["types"], res["cards"]):
        c = Links()
        c.feed(card)
        c.close()
        test.assertEqual((c.errors, c.stack), ([], []), card)
        # the full name (neuView cuts it to 9 characters), then "(R, L, M)"
        test.assertTrue(c.h2[0] == t["name"] or c.h2[0].startswith(t["name"] + " ("),
                        c.h2[0])
        test.assertEqual(sorted(urllib.parse.unquote(x) for x in c.hrefs),
                         sorted(t["urls"].values()))
        if t["roi_summary"]:
            test.assertGreaterEqual(c.buttons, len(t["roi_summary"]) + len(t["parent_rois"]))
    return os.path.getsize(os.path.join(out, "types.html")) / max(1, len(got["types"]))


class NeuviewBase(Base):
    """A neuView site: pages in types/, neuview rules, neuView's data files."""

    # types.html and the search script through neuview_check.js; its search
    # checks grow with the square of the types, too slow at cns scale.
    type_list_check = True

    def site(self, work, name="site"):
        out = os.path.join(work, name)
        h.make_pages(out, self.scale, self.seed, self.types_file, layout="neuview")
        return out

    def run_neuview(self, work, emu, out, *args):
        """One run against the emulator; every neuview-layout check."""
        before = h.tree_digest(os.path.join(out, "types"))
        cfg = h.write_config(os.path.join(work, "site.yaml"), emu.url, out, emu.ca)
        r = h.run(cfg, "--json", *args)
        self.assertEqual(r.returncode, 0, r.stderr)
        summary = json.loads(r.stdout.strip().splitlines()[-1])
        self.assertEqual(summary["index"], os.path.join(out, "index.html"))
        self.assertEqual(h.tree_digest(os.path.join(out, "types")), before)
        want = h.oracle(out, self.scale, self.seed, self.types_file, layout="neuview")
        got = h.load_types(out)
        h.assert_same_index(self, got, want)
        self.assertEqual((got["layout"], got["rules"]), ("neuview", "neuview"))
        self.check_neurons_data(out, got)
        self.check_shared_pages(out, got, quick=False)
        self.check_links(out)
        if self.type_list_check:
            per = neuview_check(self, out)
            print("\n%s neuview types.html: %.0f bytes per type" % (self.scale, per))
        return got, summary

    def check_neurons_data(self, out, got):
        with open(os.path.join(out, "data", "neurons.json"), encoding="utf-8") as f:
            text = f.read()
        nj = json.loads(text)
        # byte for byte as neuView's json.dumps(separators=(",", ":"),
        # ensure_ascii=False) writes it
        self.assertEqual(text, json.dumps(nj, separators=(",", ":"), ensure_ascii=False))
        self.assertEqual(list(nj), ["names", "neurons", "metadata"])
        self.assertEqual(nj["names"], [t["name"] for t in got["types"]])
        self.assertEqual(list(nj["metadata"]), ["generated", "total_types", "version"])
        self.assertRegex(nj["metadata"]["generated"], r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
        self.assertEqual(nj["metadata"]["total_types"], len(got["types"]))
        self.assertEqual(nj["metadata"]["version"], "2.0")
        for e, t in zip(nj["neurons"], got["types"]):
            self.assertEqual(e["name"], t["name"])
            self.assertEqual(list(e["urls"]), [k for k in ("combined", "left", "right", "middle")
                                               if k in e["urls"]])
            self.assertEqual(e["urls"], {k: v[len("types/"):] for k, v in t["urls"].items()})
            for k in e.get("types", {}):
                self.assertIn(k, ("flywire", "synonyms"))
                self.assertTrue(e["types"][k])
            self.assertEqual(e.get("types", {}).get("flywire", []), t["flywire_types"])
            syn = [x.strip() for x in (t["synonyms"] or "").split(";") if x.strip()]
            self.assertEqual(e.get("types", {}).get("synonyms", []), syn)
        node = shutil.which("node") or shutil.which("nodejs")
        self.assertIsNotNone(node, "node not installed (tools/deps installs nodejs)")
        r = subprocess.run([node, "-e", NODE_NEURONS_JS,
                            os.path.join(out, "data", "neurons.js")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           check=True)
        self.assertEqual(json.loads(r.stdout), nj)

    def check_shared_pages(self, out, got, quick):
        pages = {}
        for name in ("index.html", "help.html"):
            p = IndexPage()
            with open(os.path.join(out, name), encoding="utf-8") as f:
                pages[name] = f.read()
            p.feed(pages[name])
            p.close()
            self.assertEqual((p.errors, p.stack), ([], []), name)
            self.assertIn("quickpage", pages[name])     # ours, not the stub
        index = pages["index.html"]
        n = len(got["types"])
        self.assertIn('<span class="n">{:,}</span> types'.format(n), index)
        if quick:
            cells = syn = "\u2014"
        else:
            cells = "{:,}".format(sum(t["counts"]["total"] for t in got["types"]))
            syn = "{:,}".format(sum(t["synapses"]["pre"] + t["synapses"]["post"]
                                    for t in got["types"]))
        self.assertIn('<span class="n">%s</span> neurons' % cells, index)
        self.assertIn('<span class="n">%s</span> synapses' % syn, index)
        dv = got["dataset_version"] or {}
        self.assertIn("<dd>%s</dd>" % (dv.get("uuid") or "\u2014"), index)
        self.assertIn("<dd>%s</dd>" % (dv.get("last_database_edit") or "\u2014"), index)
        self.assertIn('<input id="landing-search"', index)
        self.assertRegex(index, r"\d{4}-\d\d-\d\d \d\d:\d\d UTC</time>")
        for link in ("types.html", "help.html"):
            self.assertIn('href="%s"' % link, index)
        self.assertIn("<strong>cns</strong>", pages["help.html"])
        with open(os.path.join(out, "README.md"), encoding="utf-8") as f:
            md = f.read()
        self.assertIn("\n- Dataset: cns\n", md)
        self.assertIn("\n- Server: 127.0.0.1", md)
        self.assertIn("\n- UUID: %s\n" % (dv.get("uuid") or "unknown"), md)
        self.assertIn("\n- Neuron types: {:,}\n".format(n), md)
        self.assertRegex(md, r"\n- Generated: \d{4}-\d\d-\d\d \d\d:\d\d UTC\n")

    def check_links(self, out):
        """Every link a page in types/ makes to a shared file resolves."""
        seen = set()
        tdir = os.path.join(out, "types")
        for fn in sorted(os.listdir(tdir)):
            with open(os.path.join(tdir, fn), encoding="utf-8") as f:
                for link in LINK_RE.findall(f.read()):
                    if not link.startswith("../"):
                        continue
                    rel = os.path.normpath(os.path.join("types", link))
                    seen.add(rel)
        self.assertTrue({"index.html", "help.html", "types.html",
                         "static/js/neuron-search.js"} <= seen, seen)
        for rel in sorted(seen):
            self.assertTrue(os.path.isfile(os.path.join(out, rel)), rel)
        # and the shared pages' own links
        for page in ("index.html", "help.html"):
            with open(os.path.join(out, page), encoding="utf-8") as f:
                for link in LINK_RE.findall(f.read()):
                    if "://" in link:
                        continue
                    self.assertTrue(os.path.isfile(os.path.join(out, link)),
                                    "%s -> %s" % (page, link))


class TestNeuviewTiny(NeuviewBase):
    def test_matches_oracle_and_leaves_types_alone(self):
        with h.Workdir() as work, h.Emulator(work, self.scale, self.seed) as emu:
            out = self.site(work)
            self.run_neuview(work, emu, out)

    def test_quick_needs_no_network(self):
        """No server listens, no token anywhere: --quick still indexes."""
        with h.Workdir() as work:
            out = self.site(work)
            before = h.tree_digest(os.path.join(out, "types"))
            cfg = h.write_config(os.path.join(work, "site.yaml"),
                                 "https://127.0.0.1:9", out, token=None)
            r = h.run(cfg, "--quick")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.strip().splitlines()[-1],
                             os.path.join(out, "index.html"))
            self.assertEqual(h.tree_digest(os.path.join(out, "types")), before)
            got = h.load_types(out)
            self.assertIsNone(got["dataset_version"])
            self.assertEqual(got["layout"], "neuview")
            want = h.oracle(out, self.scale, self.seed, layout="neuview")
            urls = lambda d: sorted(json.dumps(t["urls"], sort_keys=True)
                                    for t in d["types"])
            self.assertEqual(urls(got), urls(want))
            self.check_neurons_data(out, got)
            self.check_shared_pages(out, got, quick=True)
            self.check_links(out)

    def test_refuses_directory_in_output_place(self):
        with h.Workdir() as work:
            out = self.site(work)
            os.makedirs(os.path.join(out, "data", "neurons.json"))
            before = h.tree_digest(out)
            cfg = h.write_config(os.path.join(work, "site.yaml"), "https://127.0.0.1:9", out)
            r = h.run(cfg, "--quick")
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("data/neurons.json", r.stderr)
            self.assertEqual(h.tree_digest(out), before)

    def test_refuses_escaping_symlink(self):
        with h.Workdir() as work:
            out = self.site(work)
            outside = os.path.join(work, "elsewhere.json")
            with open(outside, "w") as f:
                f.write("{}")
            os.symlink(outside, os.path.join(out, "types.json"))
            cfg = h.write_config(os.path.join(work, "site.yaml"), "https://127.0.0.1:9", out)
            r = h.run(cfg, "--quick")
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("types.json", r.stderr)
            with open(outside) as f:
                self.assertEqual(f.read(), "{}")
            self.assertFalse(os.path.exists(os.path.join(out, "data")))


class TestNeuviewDemo(NeuviewBase):
    scale = "demo"

    def test_demo(self):
        with h.Workdir() as work, h.Emulator(work, self.scale, self.seed) as emu:
            out = self.site(work)
            got, s = self.run_neuview(work, emu, out)
            self.assertGreater(len(got["types"]), 100)
            print("\nneuview demo: %(types)d types, %(queries)d queries, "
                  "%(wall_s).2f s" % s)


class TestNeuviewAwkwardNames(NeuviewBase):
    """The real male-CNS names of TestAwkwardNames, in a neuView site."""

    def test_types_file(self):
        with h.Workdir() as work:
            tf = os.path.join(work, "types.txt")
            with open(tf, "w", encoding="utf-8") as f:
                f.write("\n".join(AWKWARD) + "\n")
            self.types_file = tf
            with h.Emulator(work, "tiny", self.seed, types_file=tf) as emu:
                out = self.site(work)
                got, _ = self.run_neuview(work, emu, out)
            names = {t["name"] for t in got["types"]}
            with open(os.path.join(out, "data", "neurons.json"), encoding="utf-8") as f:
                nj = json.load(f)
            for n in AWKWARD:
                if n in names:      # a name whose page the emulator could write
                    self.assertIn(n, nj["names"])
            self.assertGreater(len(names & set(AWKWARD)), len(AWKWARD) // 2)


@unittest.skipUnless(os.environ.get("QP_CNS", "1") == "1",
                     "QP_CNS=0: the cns-scale run was turned off")
class TestNeuviewCns(NeuviewBase):
    scale = "cns"
    type_list_check = False

    def test_cns(self):
        with h.Workdir() as work, h.Emulator(work, self.scale, self.seed) as emu:
            out = self.site(work)
            got, s = self.run_neuview(work, emu, out)
            self.assertGreater(len(got["types"]), 9000)
            sizes = {p: os.path.getsize(os.path.join(out, p))
                     for p in ("types.json", "data/neurons.json", "data/neurons.js",
                               "index.html")}
            print("\nneuview cns: %(types)d types, %(pages)d pages, %(queries)d "
                  "queries, %(bytes_in)d bytes, %(wall_s).2f s" % s)
            print("neuview cns sizes: " + ", ".join("%s %d" % kv for kv in sizes.items()))


class TestTemplates(Base):
    """The templates are compiled in; quickpaged.template_dir replaces the set."""
    SRC = os.path.join(h.ROOT, "data", "templates")
    NAMES = ("index.css", "index.html", "index.js", "neuron-search.js")

    def read_src(self, name):
        with open(os.path.join(self.SRC, name), encoding="utf-8") as f:
            return f.read()

    def quick(self, work, out, template_dir=None, exe=None):
        cfg = h.write_config(os.path.join(work, "site.yaml"),
                             "https://127.0.0.1:9", out, template_dir=template_dir)
        r = subprocess.run([exe or h.QUICKPAGED, "--run", "create-index",
                            "--config", cfg, "--quick"], cwd=work,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=120)
        return cfg, r

    def index_html(self, out):
        with open(os.path.join(out, "index.html"), encoding="utf-8") as f:
            return f.read()

    def test_build_tree_binary_without_template_dir(self):
        """Built, not installed, copied anywhere: the page comes from the binary."""
        with h.Workdir() as work:
            exe = os.path.join(work, "bin", "quickpaged")
            os.makedirs(os.path.dirname(exe))
            shutil.copy(h.QUICKPAGED, exe)
            out = self.site(work)
            cfg, r = self.quick(work, out, exe=exe)
            with open(cfg, encoding="utf-8") as f:
                self.assertNotIn("template_dir", f.read())
            self.assertEqual(r.returncode, 0, r.stderr)
            page = self.index_html(out)
            self.assertIn(self.read_src("index.css"), page)   # inlined verbatim
            self.assertIn(self.read_src("index.js"), page)
            self.check_outputs(out, h.load_types(out))

    def test_version_prints_template_digest(self):
        r = subprocess.run([h.QUICKPAGED, "--version"], stdout=subprocess.PIPE,
                           text=True, check=True)
        lines = r.stdout.splitlines()
        self.assertRegex(lines[0], r"^quickpaged \d+\.\d+\.\d+$")
        # as `sha256sum FILE... | sha256sum` prints it (docs/output.md)
        listing = ""
        # every file data/templates/meson.build embeds, in name order
        names = sorted(n for n in os.listdir(self.SRC) if n != "meson.build")
        self.assertIn("neuview-index.html", names)
        for n in names:
            with open(os.path.join(self.SRC, n), "rb") as f:
                listing += "%s  %s\n" % (hashlib.sha256(f.read()).hexdigest(), n)
        want = hashlib.sha256(listing.encode()).hexdigest()
        self.assertEqual(lines[1:], ["templates sha256:" + want])

    def test_template_dir_overrides(self):
        with h.Workdir() as work:
            tpl = os.path.join(work, "tpl")
            shutil.copytree(self.SRC, tpl)
            with open(os.path.join(tpl, "index.css"), "a") as f:
                f.write("/* site override */\n")
            out = self.site(work)
            _, r = self.quick(work, out, template_dir=tpl)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("/* site override */", self.index_html(out))

    def test_template_dir_missing_a_file(self):
        """No per-file fallback: the missing file is named, nothing written."""
        with h.Workdir() as work:
            tpl = os.path.join(work, "tpl")
            shutil.copytree(self.SRC, tpl)
            os.unlink(os.path.join(tpl, "neuron-search.js"))
            out = self.site(work)
            before = h.previous_index(out)
            _, r = self.quick(work, out, template_dir=tpl)
            self.assertEqual(r.returncode, 1, r.stderr)
            lines = r.stderr.strip().splitlines()
            self.assertEqual(len(lines), 1, r.stderr)
            self.assertIn(os.path.join(tpl, "neuron-search.js"), lines[0])
            self.assertIn("No such file", lines[0])
            self.assertIn("quickpaged.template_dir replaces the built-in set",
                          lines[0])
            self.assertEqual(h.tree_digest(out), before)


class TestDemo(Base):
    scale = "demo"

    def test_demo_batched_and_per_type(self):
        with h.Workdir() as work, h.Emulator(work, "demo", self.seed) as emu:
            out = self.site(work)
            batched, r1 = self.check_against_oracle(work, emu, out, "--json")
            s1 = json.loads(r1.stdout.strip().splitlines()[-1])
            self.check_outputs(out, batched)
            per, r2 = self.check_against_oracle(work, emu, out, "--strategy",
                                                "per-type", "--json")
            s2 = json.loads(r2.stdout.strip().splitlines()[-1])
            for d in (batched, per):
                d.pop("generated_at")
            self.assertEqual(batched, per)
            # Round trips grow with types / batch size, never one per type.
            self.assertLess(s1["queries"], s2["queries"] / 10)
            print("\ndemo batched: %(queries)d queries, %(bytes_in)d bytes, "
                  "%(wall_s).2f s" % s1)
            print("demo per-type: %(queries)d queries, %(bytes_in)d bytes, "
                  "%(wall_s).2f s" % s2)


AWKWARD = [
    "KCa'b'-ap1", "Tergopleural/Pleural promotor MN", "DLMn a, b",
    "PEN_b(PEN2)", "VP1d+VP4_l2PN1", "SMPp&v1B_M02", "IN20A.22A070,IN20A.22A080",
    'quote"double', "back\\slash", "ADNM1 MN", "ADNM1_MN", "</script>",
    "<b>bold</b>", "µ-type é", "a_b_c_d_e_f_g_h", "100%", "hash#tag",
    "tab\tname", "a'b\"c\\d",
]


class TestAwkwardNames(Base):
    def test_types_file(self):
        with h.Workdir() as work:
            tf = os.path.join(work, "types.txt")
            with open(tf, "w", encoding="utf-8") as f:
                f.write("\n".join(AWKWARD) + "\n")
            self.types_file = tf
            with h.Emulator(work, "tiny", self.seed, types_file=tf) as emu:
                out = self.site(work)
                got, _ = self.check_against_oracle(work, emu, out)
                self.check_outputs(out, got)


# QP_CNS=0 skips it (reported as SKIP; under CI tests/pyunit fails a skip).
@unittest.skipUnless(os.environ.get("QP_CNS", "1") == "1",
                     "QP_CNS=0: the cns-scale run was turned off")
class TestCns(Base):
    scale = "cns"

    def test_cns_matches_oracle(self):
        with h.Workdir() as work, h.Emulator(work, "cns", self.seed) as emu:
            out = self.site(work)
            got, r = self.check_against_oracle(work, emu, out, "--json")
            s = json.loads(r.stdout.strip().splitlines()[-1])
            print("\ncns batched: %(types)d types, %(pages)d pages, %(queries)d "
                  "queries, %(bytes_in)d bytes, %(wall_s).2f s" % s)
            self.assertGreater(len(got["types"]), 9000)


class TestFailures(Base):
    """Each failure: non-zero exit, one clear line, previous index untouched."""

    def setUp(self):
        self.work = h.Workdir().path
        self.out = self.site(self.work)
        self.before = h.previous_index(self.out)

    def tearDown(self):
        shutil.rmtree(self.work, ignore_errors=True)

    def expect_failure(self, cfg, needle, *args):
        r = h.run(cfg, *args, timeout=120)
        self.assertNotEqual(r.returncode, 0)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn(needle, lines[0])
        self.assertNotIn(h.TOKEN, r.stderr + r.stdout)
        self.assertEqual(h.tree_digest(self.out), self.before)
        return lines[0]

    def test_unreachable(self):
        cfg = h.write_config(os.path.join(self.work, "c.yaml"),
                             "https://127.0.0.1:9", self.out,
                             extra="  max_retries: 2\n")
        self.expect_failure(cfg, "connect")

    def test_tls_untrusted(self):
        with h.Emulator(self.work) as emu:
            cfg = h.write_config(os.path.join(self.work, "c.yaml"), emu.url,
                                 self.out)   # no ca_file: system store
            self.expect_failure(cfg, "certificate")

    def test_bad_token(self):
        with h.Emulator(self.work) as emu:
            cfg = h.write_config(os.path.join(self.work, "c.yaml"), emu.url,
                                 self.out, emu.ca, token="wrong-" + h.TOKEN)
            self.expect_failure(cfg, "token")

    def test_unknown_dataset(self):
        with h.Emulator(self.work) as emu:
            cfg = h.write_config(os.path.join(self.work, "c.yaml"), emu.url,
                                 self.out, emu.ca, dataset="no-such-dataset")
            self.expect_failure(cfg, "dataset")

    def test_timeout(self):
        with h.Emulator(self.work, extra=["--latency-ms", "4000"]) as emu:
            cfg = h.write_config(os.path.join(self.work, "c.yaml"), emu.url,
                                 self.out, emu.ca,
                                 extra="  request_timeout_s: 1\n  max_retries: 1\n")
            self.expect_failure(cfg, "time")

    def test_missing_output_dir(self):
        cfg = h.write_config(os.path.join(self.work, "c.yaml"),
                             "https://127.0.0.1:9", os.path.join(self.work, "nope"))
        r = h.run(cfg, "--quick")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("nope", r.stderr)


if __name__ == "__main__":
    unittest.main()
