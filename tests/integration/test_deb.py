#!/usr/bin/env python3
"""The Debian package end to end (issue 18): build the .deb from this tree
with dpkg-buildpackage, check it with lintian (no error), install it with
apt in a fresh Debian 12 minimal root, start the daemon there as its unit
would, and build a site's index with `qpctl submit create-index SITE
--wait` against the emulator, which runs outside the root (loopback is
shared) with its private CA.

    test_deb.py WORKDIR          (root; network to Debian's mirror)

- The minimal root comes from a tarball ($QP_MINBASE_TAR, default
  /srv/fresh-minbase.tar, the one tools/fresh-debian keeps):
  `debootstrap --variant=minbase bookworm` once, then unpacked afresh on
  every run into WORKDIR/root, with what an installer writes (hosts,
  hostname), the host's resolv.conf and apt sources, and /proc, /sys,
  /dev mounted. Works inside such a chroot too (tools/fresh-debian runs the
  suite in one): the tarball is then made there.
- The .deb is built once per run in WORKDIR/src, from the files git
  tracks (and untracked, unignored ones), with DEB_BUILD_OPTIONS=nocheck:
  the suite that runs this test runs the unit tests itself.
- There is no systemd in a chroot: the daemon is started the way
  quickpaged.service would start it, from the installed unit: its
  ExecStart, User, Group, UMask, and its State-, Cache- and
  RuntimeDirectory made with their modes.
Prints each step's time. On failure WORKDIR/root stays (unmounted) for a
look; on success it is removed.
"""
import glob
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import harness

ROOT = harness.ROOT
DIST = "bookworm"
times = []


def step(name, t0):
    times.append((name, time.time() - t0))
    print("== %s: %.1f s" % (name, times[-1][1]), flush=True)


def run(cmd, **kw):
    """Run CMD; on failure raise with its output's tail."""
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.STDOUT)
    r = subprocess.run(cmd, text=True, **kw)
    if r.returncode != 0:
        tail = "\n".join((r.stdout or "").splitlines()[-40:])
        raise SystemExit("FAIL: %s: exit %d\n%s" % (" ".join(cmd), r.returncode, tail))
    return r.stdout or ""


# ---- the package ----

def build_deb(work):
    """dpkg-buildpackage -b on a copy of the tree; returns the .changes."""
    t0 = time.time()
    out = os.path.join(work, "src")
    shutil.rmtree(out, ignore_errors=True)
    src = os.path.join(out, "quickpage")
    os.makedirs(src)
    files = run(["git", "-C", ROOT, "ls-files", "-z", "-co", "--exclude-standard"],
                stderr=subprocess.PIPE)
    for rel in files.split("\0"):
        if rel and os.path.isfile(os.path.join(ROOT, rel)):
            os.makedirs(os.path.dirname(os.path.join(src, rel)), exist_ok=True)
            shutil.copy2(os.path.join(ROOT, rel), os.path.join(src, rel))
    env = dict(os.environ, DEB_BUILD_OPTIONS="nocheck parallel=2")
    for k in ("CFLAGS", "LDFLAGS", "CPPFLAGS", "MAKEFLAGS", "MESON_TESTTHREADS"):
        env.pop(k, None)
    with open(os.path.join(out, "build.log"), "w") as log:
        r = subprocess.run(["dpkg-buildpackage", "-b", "-us", "-uc"], cwd=src, env=env,
                           stdout=log, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        with open(os.path.join(out, "build.log")) as f:
            print("".join(f.readlines()[-40:]))
        raise SystemExit("FAIL: dpkg-buildpackage: exit %d (log: %s/build.log)"
                         % (r.returncode, out))
    changes = glob.glob(os.path.join(out, "quickpage_*.changes"))
    assert len(changes) == 1, changes
    step("dpkg-buildpackage", t0)
    return changes[0]


def check_deb(changes):
    """lintian: no error (warnings printed); the package's files."""
    t0 = time.time()
    r = subprocess.run(["lintian", "--display-info", changes], text=True,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines = [l for l in r.stdout.splitlines() if re.match(r"[EWIPX]: ", l)]
    print("lintian:" + "".join("\n  " + l for l in lines) if lines else "lintian: clean")
    errors = [l for l in lines if l.startswith("E: ")]
    if errors or r.returncode not in (0, 1) or (r.returncode == 1 and not lines):
        raise SystemExit("FAIL: lintian reports %d errors (exit %d):\n%s"
                         % (len(errors), r.returncode, r.stdout))
    deb = glob.glob(os.path.join(os.path.dirname(changes), "quickpage_*_*.deb"))[0]
    # debian/changelog's version is the project's (meson.build).
    with open(os.path.join(ROOT, "meson.build")) as f:
        version = re.search(r"(?<!\w)version\s*:\s*'([^']+)'", f.read()).group(1)
    if run(["dpkg-deb", "-f", deb, "Version"]).strip() != version:
        raise SystemExit("FAIL: debian/changelog's version is not meson.build's %s" % version)
    listing = run(["dpkg-deb", "-c", deb])
    paths = {l.split()[5].lstrip(".") for l in listing.splitlines()}
    want = ["/usr/sbin/quickpaged", "/usr/bin/qpctl",
            "/lib/systemd/system/quickpaged.service", "/lib/systemd/system/quickpaged.socket",
            "/lib/systemd/system/quickpage-nightly@.service",
            "/lib/systemd/system/quickpage-nightly@.timer",
            "/usr/lib/sysusers.d/quickpaged.conf", "/usr/lib/tmpfiles.d/quickpaged.conf",
            "/etc/quickpaged/quickpaged.yaml", "/usr/share/man/man8/quickpaged.8.gz",
            "/usr/share/man/man1/qpctl.1.gz", "/usr/share/man/man5/quickpaged.yaml.5.gz",
            "/usr/share/bash-completion/completions/qpctl"]
    missing = [p for p in want if p not in paths]
    if missing:
        raise SystemExit("FAIL: the package lacks %s" % ", ".join(missing))
    with tempfile.TemporaryDirectory() as d:
        run(["dpkg-deb", "-e", deb, d])
        with open(os.path.join(d, "conffiles")) as f:
            conffiles = f.read().split()
    if conffiles != ["/etc/quickpaged/quickpaged.yaml"]:
        raise SystemExit("FAIL: conffiles are %r" % conffiles)
    print("package: %d files" % sum(1 for l in listing.splitlines() if l[0] != "d"))
    step("lintian and contents", t0)
    return deb


# ---- the fresh root ----

def mirror():
    if os.environ.get("MIRROR"):
        return os.environ["MIRROR"]
    for f, pat in (("/etc/apt/sources.list.d/debian.sources", r"^URIs:\s*(\S+)"),
                   ("/etc/apt/sources.list", r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+%s\s" % DIST)):
        try:
            with open(f) as fh:
                m = re.search(pat, fh.read(), re.M)
            if m:
                return m.group(1)
        except OSError:
            pass
    return "http://deb.debian.org/debian"


def base_tarball():
    """The debootstrap minbase tarball, made once (atomically: a temporary
    name, then rename, so a concurrent or aborted maker leaves no half)."""
    tar = os.environ.get("QP_MINBASE_TAR", "/srv/fresh-minbase.tar")
    if os.path.isfile(tar):
        return tar
    t0 = time.time()
    os.makedirs(os.path.dirname(tar), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="minbase.", dir=os.path.dirname(tar))
    os.chmod(tmp, 0o755)    # the root's /, as on an installed system (mkdtemp: 0700)
    try:
        run(["debootstrap", "--variant=minbase", DIST, tmp, mirror()])
        fd, part = tempfile.mkstemp(prefix=os.path.basename(tar) + ".",
                                    dir=os.path.dirname(tar))
        os.close(fd)
        run(["tar", "-C", tmp, "-cf", part, "."])
        os.rename(part, tar)
    finally:
        run(["rm", "-rf", "--one-file-system", tmp])
    step("debootstrap minbase (cached as %s)" % tar, t0)
    return tar


def mounts_under(path):
    """Mount points at or below PATH, deepest first."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if mp == path or mp.startswith(path + "/"):
                out.append(mp)
    return sorted(out, key=len, reverse=True)


def unmount_all(path):
    for mp in mounts_under(path):
        subprocess.run(["umount", "-l", mp])
    left = mounts_under(path)
    if left:
        raise SystemExit("FAIL: cannot unmount %s" % ", ".join(left))


def fresh_root(work, tar):
    t0 = time.time()
    root = os.path.join(work, "root")
    unmount_all(root)   # an aborted run's, before anything is wiped
    if os.path.exists(root):
        run(["rm", "-rf", "--one-file-system", root])
    os.makedirs(root)
    run(["tar", "-C", root, "-xf", tar])
    # / as an installer leaves it, whatever the tarball says (a 0700 one
    # keeps the daemon's user from its own binary).
    os.chmod(root, 0o755)
    host = os.uname().nodename
    with open(os.path.join(root, "etc/hostname"), "w") as f:
        f.write(host + "\n")
    with open(os.path.join(root, "etc/hosts"), "w") as f:
        f.write("127.0.0.1\tlocalhost\n127.0.1.1\t%s\n\n::1     localhost ip6-localhost "
                "ip6-loopback\nff02::1 ip6-allnodes\nff02::2 ip6-allrouters\n" % host)
    if os.path.lexists(os.path.join(root, "etc/resolv.conf")):
        os.remove(os.path.join(root, "etc/resolv.conf"))
    shutil.copy("/etc/resolv.conf", os.path.join(root, "etc/resolv.conf"))
    if os.path.exists("/etc/apt/sources.list.d/debian.sources"):
        if os.path.exists(os.path.join(root, "etc/apt/sources.list")):
            os.remove(os.path.join(root, "etc/apt/sources.list"))
        shutil.copy("/etc/apt/sources.list.d/debian.sources",
                    os.path.join(root, "etc/apt/sources.list.d/"))
    elif os.path.exists("/etc/apt/sources.list"):
        shutil.copy("/etc/apt/sources.list", os.path.join(root, "etc/apt/sources.list"))
    for args in (["-t", "proc", "proc", "proc"], ["-t", "sysfs", "sysfs", "sys"],
                 ["--bind", "/dev", "dev"], ["--bind", "/dev/pts", "dev/pts"]):
        run(["mount"] + args[:-1] + [os.path.join(root, args[-1])])
    step("fresh root", t0)
    return root


ROOT_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": "/root", "LANG": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive"}


def in_root(root, *cmd, **kw):
    return run(["chroot", root] + list(cmd), env=ROOT_ENV, **kw)


def install(root, deb):
    t0 = time.time()
    shutil.copy(deb, os.path.join(root, "tmp"))
    in_root(root, "apt-get", "update", "-qq")
    out = in_root(root, "apt-get", "install", "-y", "-q", "--no-install-recommends",
                  "/tmp/" + os.path.basename(deb))
    new = [l.split()[2] for l in out.splitlines() if l.startswith("Setting up ")]
    print("installed %d packages: %s" % (len(new), " ".join(new)))
    step("apt-get install ./%s" % os.path.basename(deb), t0)


def check_installed(root):
    """What postinst promised: the user and group, /etc/quickpaged for
    the group, the service and socket enabled."""
    ent = in_root(root, "getent", "passwd", "quickpaged").strip().split(":")
    gent = in_root(root, "getent", "group", "quickpaged").strip().split(":")
    if ent[5] != "/var/lib/quickpaged" or int(ent[2]) >= 1000 or ent[3] != gent[2]:
        raise SystemExit("FAIL: the quickpaged user is %r (group %r)" % (ent, gent))
    st = os.stat(os.path.join(root, "etc/quickpaged"))
    if (st.st_mode & 0o7777, st.st_uid, st.st_gid) != (0o750, 0, int(gent[2])):
        raise SystemExit("FAIL: /etc/quickpaged is %o %d:%d" % (st.st_mode, st.st_uid,
                                                                 st.st_gid))
    for link in ("multi-user.target.wants/quickpaged.service",
                 "sockets.target.wants/quickpaged.socket"):
        p = os.path.join(root, "etc/systemd/system", link)
        if not os.path.islink(p):
            raise SystemExit("FAIL: not enabled: /etc/systemd/system/" + link)
    return int(ent[2]), int(gent[2])


# ---- the daemon, as quickpaged.service runs it ----

def unit(root, name):
    keys = {}
    with open(os.path.join(root, "lib/systemd/system", name)) as f:
        for line in f:
            m = re.match(r"^(\w+)=(.*)$", line.strip())
            if m:
                keys.setdefault(m.group(1), []).append(m.group(2))
    return keys


def start_daemon(root, log):
    u = unit(root, "quickpaged.service")
    user, group = u["User"][-1], u["Group"][-1]
    uid = pwd_in(root, "passwd", user)
    gid = pwd_in(root, "group", group)
    for kind, base in (("State", "var/lib"), ("Cache", "var/cache"), ("Runtime", "run")):
        for d in u.get(kind + "Directory", []):
            p = os.path.join(root, base, d)
            os.makedirs(p, exist_ok=True)
            os.chown(p, uid, gid)
            os.chmod(p, int(u.get(kind + "DirectoryMode", ["0755"])[-1], 8))
    argv = shlex.split(u["ExecStart"][-1])
    umask = int(u.get("UMask", ["0022"])[-1], 8)

    def enter():
        os.chroot(root)
        os.chdir("/")
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
        os.umask(umask)
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin", "LANG": "C.UTF-8",
           "HOME": "/var/lib/quickpaged", "USER": user, "LOGNAME": user}
    print("ExecStart (as %s:%s, umask %04o): %s" % (user, group, umask, " ".join(argv)))
    return subprocess.Popen(argv, preexec_fn=enter, env=env, stdout=log, stderr=log)


def pwd_in(root, db, name):
    with open(os.path.join(root, "etc", db)) as f:
        for line in f:
            p = line.split(":")
            if p[0] == name:
                return int(p[2])
    raise SystemExit("FAIL: no %s %s in the root" % (db, name))


def main():
    sys.stdout.reconfigure(line_buffering=True)
    if os.geteuid() != 0:
        # As tests/pyunit does: a skip (77) outside CI, a failure under it.
        print("test_deb needs root (chroot, mount, apt in the root)", file=sys.stderr)
        sys.exit(1 if os.environ.get("CI", "") not in ("", "0", "false") else 77)
    for tool in ("dpkg-buildpackage", "lintian", "debootstrap", "git"):
        if shutil.which(tool) is None:
            raise SystemExit("FAIL: %s not found (tools/deps installs it)" % tool)
    work = os.path.realpath(sys.argv[1])
    os.makedirs(work, exist_ok=True)
    t_all = time.time()
    changes = build_deb(work)
    deb = check_deb(changes)
    tar = base_tarball()
    root = fresh_root(work, tar)
    emu = daemon = None
    ok = False
    try:
        install(root, deb)
        uid, gid = check_installed(root)

        t0 = time.time()
        emu = harness.Emulator(work, scale="tiny")
        # The site, as an administrator would add it: pages under the
        # allowed root /srv/quickpage, the config with its token readable
        # by the daemon's group only, the CA beside it.
        out = os.path.join(root, "srv/quickpage/demo")
        harness.make_pages(out)
        for d, _, fs in os.walk(os.path.join(root, "srv/quickpage")):
            os.chown(d, uid, gid)
            for f in fs:
                os.chown(os.path.join(d, f), uid, gid)
        etc = os.path.join(root, "etc/quickpaged")
        os.makedirs(os.path.join(etc, "sites"), exist_ok=True)
        shutil.copy(emu.ca, os.path.join(etc, "neuprint-ca.pem"))
        cfg = harness.write_config(os.path.join(etc, "sites/demo.yaml"), emu.url,
                                   "/srv/quickpage/demo", ca="/etc/quickpaged/neuprint-ca.pem")
        os.chown(cfg, 0, gid)
        os.chmod(cfg, 0o640)
        settings = os.path.join(etc, "quickpaged.yaml")
        with open(settings) as f:
            text = f.read()
        edited = text.replace("  cns: /etc/quickpaged/sites/cns.yaml",
                              "  demo: /etc/quickpaged/sites/demo.yaml")
        if edited == text:
            raise SystemExit("FAIL: the example settings have no cns site to replace")
        with open(settings, "w") as f:
            f.write(edited)

        log = open(os.path.join(work, "quickpaged.log"), "w")
        daemon = start_daemon(root, log)
        sock = os.path.join(root, "run/quickpaged/quickpaged.sock")
        end = time.time() + 30
        while not os.path.exists(sock):
            if daemon.poll() is not None or time.time() > end:
                raise SystemExit("FAIL: the daemon did not listen (exit %r): %s"
                                 % (daemon.poll(), open(log.name).read()))
            time.sleep(0.05)
        print(in_root(root, "qpctl", "ping").strip())
        r = subprocess.run(["chroot", root, "qpctl", "submit", "create-index", "demo",
                            "--wait"], env=ROOT_ENV, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
        print(r.stdout.strip())
        if r.returncode != 0:
            raise SystemExit("FAIL: qpctl submit create-index demo --wait: exit %d\n"
                             "daemon log:\n%s" % (r.returncode, open(log.name).read()))
        # What the installed binary wrote is what the emulator's oracle says.
        got = harness.load_types(out)
        harness.assert_same_index(unittest.TestCase(), got, harness.oracle(out))
        if not os.path.getsize(os.path.join(out, "index.html")):
            raise SystemExit("FAIL: empty index.html")
        print("index: %d entries, as the oracle says" % len(got["types"]))
        step("daemon and job in the root", t0)
        daemon.send_signal(signal.SIGTERM)
        rc = daemon.wait(30)
        if rc != 0:
            raise SystemExit("FAIL: the daemon exited %d on SIGTERM" % rc)
        daemon = None
        ok = True
    finally:
        if daemon is not None and daemon.poll() is None:
            daemon.kill()
            daemon.wait()
        if emu is not None:
            emu.stop()
        unmount_all(root)
        if ok:
            run(["rm", "-rf", "--one-file-system", root])
        else:
            print("the root stays in %s (unmounted)" % root)
    step("total", t_all)


if __name__ == "__main__":
    main()
