"""systemd-analyze verify on the units (the build-tree variants, so the
binaries they name exist). Without systemd-analyze it fails: tools/deps
installs it (package systemd)."""
import os
import shutil
import subprocess
import sys
import tempfile

build, src = sys.argv[1], sys.argv[2]
tool = shutil.which("systemd-analyze")
if tool is None:
    print("systemd-analyze not found (Debian package systemd; tools/deps "
          "installs it)", file=sys.stderr)
    sys.exit(1)
with tempfile.TemporaryDirectory() as d:
    shutil.copy(os.path.join(build, "test-quickpaged.service"),
                os.path.join(d, "quickpaged.service"))
    shutil.copy(os.path.join(build, "test-quickpage-nightly@.service"),
                os.path.join(d, "quickpage-nightly@.service"))
    shutil.copy(os.path.join(src, "quickpaged.socket"), d)
    shutil.copy(os.path.join(src, "quickpage-nightly@.timer"), d)
    units = [os.path.join(d, u) for u in (
        "quickpaged.service", "quickpaged.socket",
        "quickpage-nightly@.service", "quickpage-nightly@.timer")]
    # Templates are verified through an instance.
    for u in ("service", "timer"):
        inst = os.path.join(d, "quickpage-nightly@cns." + u)
        os.symlink(os.path.join(d, "quickpage-nightly@." + u), inst)
        units.append(inst)
    units = [u for u in units if "@." not in u]
    env = dict(os.environ, SYSTEMD_UNIT_PATH=d + ":", SYSTEMD_LOG_LEVEL="notice")
    r = subprocess.run([tool, "verify", "--man=no"] + units, env=env,
                       capture_output=True, text=True)
    out = (r.stdout + r.stderr).strip()
    print(out or "verify: no complaints")
    # Any complaint fails (unknown keys only warn, exit 0). Complaints about the host (no such user yet, no /proc access in a
    # container) are not the units' fault; anything else fails.
    bad = [l for l in out.splitlines() if l and not any(x in l for x in (
        "Failed to resolve user", "Failed to resolve group",
        "Cannot add dependency job", "Failed to connect to bus",
        "Unit quickpaged.socket not found"))]
    sys.exit(1 if bad else 0)
