#!/usr/bin/env python3
"""site.py OUT --scale S --layout quickpage|neuview [--awkward] [--quick]

Builds a site for the browser tests and bench/browser: the emulator's page
set of that scale and layout in OUT (--awkward: with the type names of
test_create_index.AWKWARD, quotes, slashes, commas, & ( + and blanks), indexed by quickpaged (QUICKPAGED, else
build/daemon/quickpaged) against an emulator serving the same dataset, as
tests/integration/test_create_index.py does. --quick indexes with
quickpaged --quick (no emulator). Prints OUT on success.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "integration"))
import harness as h  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--scale", default="tiny")
    ap.add_argument("--layout", default="quickpage", choices=("quickpage", "neuview"))
    ap.add_argument("--awkward", action="store_true")
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    work = os.path.dirname(os.path.abspath(a.out))
    a.types_file = None
    if a.awkward:
        from test_create_index import AWKWARD
        a.types_file = os.path.join(work, os.path.basename(a.out) + "-types.txt")
        with open(a.types_file, "w", encoding="utf-8") as f:
            f.write("\n".join(AWKWARD) + "\n")
    h.make_pages(a.out, a.scale, 1, a.types_file, layout=a.layout)
    cfg = os.path.join(work, os.path.basename(a.out) + ".yaml")
    if a.quick:
        h.write_config(cfg, "https://127.0.0.1:9", a.out, token=None)
        r = h.run(cfg, "--quick", "--no-cache")
    else:
        with h.Emulator(work, a.scale, 1, types_file=a.types_file) as emu:
            h.write_config(cfg, emu.url, a.out, emu.ca)
            r = h.run(cfg, "--no-cache")
    if r.returncode != 0:
        sys.stderr.write(r.stderr)
        sys.exit("site.py: quickpaged failed (%d)" % r.returncode)
    print(a.out)


if __name__ == "__main__":
    main()
