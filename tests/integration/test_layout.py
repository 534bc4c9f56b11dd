"""The layout is the architecture: includes run one way only.

pipeline/ holds five rooms and a conductor, lowest first (pipeline/meson.build):
base/ < neuprint/ < index/ < store/ and render/ (peers) < the pipeline's root
(job, fetch, config, siteup). A module includes only its own room's headers
and those of rooms below it, always naming the room ("neuprint/upstream.h"),
so a wrong-way include shows in the line itself. protocol/ stands on base/
alone. The daemon sees only the pipeline's face: base/, job.h, config.h,
siteup.h and store/cachework.h. qpctl sees base/ and protocol/.

Every quoted include of the production code (pipeline/, protocol/, daemon/,
client/) is resolved and checked; an include that resolves to nothing
known fails too, so a renamed header cannot slip past. The checker is run on
a copy of the tree with wrong-way includes planted, and must catch each.
"""
import os
import re
import shutil
import sys
import tempfile
import unittest

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                     "..", ".."))
ROOMS = {"base": 0, "neuprint": 1, "index": 2, "store": 3, "render": 3}
FACE = {"job.h", "config.h", "siteup.h", "store/cachework.h"}
GENERATED = {"qp_build.h"}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def _sources(root, top):
    for d, _, files in os.walk(os.path.join(root, top)):
        for f in sorted(files):
            if f.endswith((".c", ".h")):
                yield os.path.join(d, f)


def _where(root, path):
    """(area, room) of a source file: area pipeline/protocol/daemon/client;
    room a pipeline folder, or "" for the pipeline's root."""
    rel = os.path.relpath(path, root).split(os.sep)
    if rel[0] == "pipeline":
        return "pipeline", rel[1] if len(rel) > 2 else ""
    return rel[0], ""


def _target(root, area, inc):
    """What an include names: ("pipeline", room), ("protocol", ""),
    (area, "") for the includer's own area, ("generated", ""), or None."""
    parts = inc.split("/")
    if len(parts) == 2 and parts[0] in ROOMS:
        if os.path.exists(os.path.join(root, "pipeline", inc)):
            return "pipeline", parts[0]
        return None
    if len(parts) != 1:
        return None
    if inc in GENERATED:
        return "generated", ""
    if area != "pipeline" and os.path.exists(os.path.join(root, area, inc)):
        return area, ""
    if os.path.exists(os.path.join(root, "pipeline", inc)):
        return "pipeline", ""
    if os.path.exists(os.path.join(root, "protocol", inc)):
        return "protocol", ""
    return None


def _allowed(area, room, tarea, troom, inc):
    if tarea == "generated":
        return True
    if area == "pipeline":
        if tarea != "pipeline":
            return False
        if room == "":
            return True
        if troom == "":
            return False		# the root stands above every room
        return troom == room or ROOMS[troom] < ROOMS[room]
    if area == "protocol":
        return (tarea, troom) in (("protocol", ""), ("pipeline", "base"))
    if tarea == area or tarea == "protocol":
        return True
    if tarea != "pipeline":
        return False
    if troom == "base":
        return True
    if area == "daemon":
        return inc in FACE
    return False


def violations(root):
    """Every include of the production code that runs the wrong way, as
    "file:line: why" strings."""
    bad = []
    for top in ("pipeline", "protocol", "daemon", "client"):
        for path in _sources(root, top):
            area, room = _where(root, path)
            with open(path, encoding="utf-8") as f:
                text = f.read()
            for m in INCLUDE.finditer(text):
                inc = m.group(1)
                line = text.count("\n", 0, m.start()) + 1
                where = "%s:%d" % (os.path.relpath(path, root), line)
                t = _target(root, area, inc)
                if t is None:
                    bad.append('%s: "%s" names no header of the project '
                               '(a room\'s header is written with its '
                               'folder)' % (where, inc))
                elif not _allowed(area, room, t[0], t[1], inc):
                    bad.append('%s: "%s" runs the wrong way (%s%s includes '
                               '%s%s)' % (where, inc, area,
                                          "/" + room if room else "",
                                          t[0], "/" + t[1] if t[1] else ""))
    return bad


class TestLayout(unittest.TestCase):
    def test_includes_run_one_way(self):
        bad = violations(ROOT)
        self.assertEqual(bad, [], "\n".join(bad))

    def test_every_room_is_listed(self):
        """A new folder in pipeline/ gets its place in the order."""
        rooms = {d for d in os.listdir(os.path.join(ROOT, "pipeline"))
                 if os.path.isdir(os.path.join(ROOT, "pipeline", d))}
        self.assertEqual(rooms, set(ROOMS))

    def test_wrong_way_includes_are_caught(self):
        tmp = tempfile.mkdtemp(prefix="qp-layout-")
        try:
            for top in ("pipeline", "protocol", "daemon", "client"):
                shutil.copytree(os.path.join(ROOT, top), os.path.join(tmp, top))
            plants = [
                ("pipeline/base/buf.c", '#include "index/scan.h"', "wrong way"),
                ("pipeline/neuprint/http.c", '#include "job.h"', "wrong way"),
                ("pipeline/store/cache.c", '#include "render/render.h"',
                 "wrong way"),
                ("pipeline/render/render.c", '#include "store/cache.h"',
                 "wrong way"),
                ("pipeline/index/scan.c", '#include "buf.h"',
                 "names no header"),
                ("protocol/protocol.c", '#include "job.h"', "wrong way"),
                ("daemon/server.c", '#include "neuprint/upstream.h"',
                 "wrong way"),
                ("client/qpctl.c", '#include "config.h"', "wrong way"),
            ]
            for rel, line, _ in plants:
                with open(os.path.join(tmp, rel), "a", encoding="utf-8") as f:
                    f.write("\n" + line + "\n")
            bad = violations(tmp)
            for rel, line, why in plants:
                inc = line.split('"')[1]
                hits = [b for b in bad if b.startswith(rel + ":")
                        and '"%s"' % inc in b]
                self.assertEqual(len(hits), 1, (rel, line, bad))
                self.assertIn(why, hits[0])
            self.assertEqual(len(bad), len(plants) + len(violations(ROOT)),
                             bad)
        finally:
            shutil.rmtree(tmp)


if __name__ == "__main__":
    sys.exit(unittest.main())
