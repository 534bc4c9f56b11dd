"""The man pages against the code (issue 18): every command-line option of
quickpaged and qpctl, every qpctl command, every daemon setting and every
site-config key the code accepts has an entry in a man page, and every
entry names something the code accepts. What the code accepts is read from
its tables (cli_facts.py); the usage texts (--help) may name only options
the code accepts; each unit's man: documentation exists.

    test_manpages.py        (QUICKPAGED, QPCTL: the built binaries)
"""
import os
import re
import subprocess
import sys

import cli_facts as cf

failures = []


def same(what, page, code, doc):
    """CODE (accepted) and DOC (documented) must be the same set."""
    if not code:
        failures.append("%s: nothing extracted from the code" % what)
    for x in sorted(code - doc):
        failures.append("%s: %s is accepted by the code but has no entry in %s"
                        % (what, x, page))
    for x in sorted(doc - code):
        failures.append("%s: %s is documented in %s but the code does not accept it"
                        % (what, x, page))
    print("%-26s %d in the code, %d in %s" % (what, len(code), len(doc), page))


def options_in(entries):
    return {w for _, _, ws in entries for w in ws if w.startswith("-")}


# quickpaged(8)
ent = cf.documented("quickpaged.8", ["OPTIONS"])
same("quickpaged options", "quickpaged(8)", cf.quickpaged_options(), options_in(ent))

# qpctl(1): options anywhere in its option and command entries; a command
# entry's first word is the command, its other plain bold words the words
# it takes (submit create-index, cache stats).
ent = cf.documented("qpctl.1", ["OPTIONS", "SUBMIT OPTIONS", "COMMANDS"])
same("qpctl options", "qpctl(1)", cf.qpctl_options(), options_in(ent))
cmds = [ws for s, _, ws in ent if s == "COMMANDS" and ws and not ws[0].startswith("-")]
same("qpctl commands", "qpctl(1)", cf.qpctl_commands(), {ws[0] for ws in cmds})
same("qpctl command words", "qpctl(1)", cf.qpctl_words(),
     {w for ws in cmds for w in ws[1:] if not w.startswith("-")})

# quickpaged.yaml(5): one entry per key.
ent = cf.documented("quickpaged.yaml.5", ["SETTINGS"])
same("daemon settings", "quickpaged.yaml(5)", cf.daemon_settings(),
     {ws[0] for _, _, ws in ent if ws})
ent = cf.documented("quickpaged.yaml.5", ["SITE CONFIGURATION"])
same("site config keys", "quickpaged.yaml(5)", cf.site_keys(),
     {ws[0] for _, _, ws in ent if ws})

# quickpaged(8)'s ENVIRONMENT: every variable it reads, and only those.
ent = cf.documented("quickpaged.8", ["ENVIRONMENT"])
same("environment variables", "quickpaged(8)", cf.environment(),
     {w for _, _, ws in ent for w in ws})

# The usage texts name only accepted options.
for name, env, accepted in (("quickpaged", "QUICKPAGED", cf.quickpaged_options()),
                            ("qpctl", "QPCTL", cf.qpctl_options())):
    r = subprocess.run([os.environ[env], "--help"], capture_output=True, text=True)
    if r.returncode != 0:
        failures.append("%s --help: exit %d" % (name, r.returncode))
    used = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", r.stdout))
    if not used:
        failures.append("%s --help names no option" % name)
    for o in sorted(used - accepted):
        failures.append("%s --help names %s, which the code does not accept" % (name, o))

# Every man: reference of the units is a page we build.
sd = os.path.join(cf.ROOT, "systemd")
with open(os.path.join(cf.ROOT, "man", "meson.build"), encoding="utf-8") as f:
    built = set(re.findall(r"'([\w.]+\.\d)'", f.read()))
for u in sorted(os.listdir(sd)):
    with open(os.path.join(sd, u), encoding="utf-8") as f:
        for name, sec in re.findall(r"man:([\w.-]+)\((\d)\)", f.read()):
            page = "%s.%s" % (name, sec)
            if page not in built or not os.path.exists(
                    os.path.join(cf.ROOT, "man", page + ".scd")):
                failures.append("systemd/%s names man:%s(%s), which is not built"
                                % (u, name, sec))

for f in failures:
    print("FAIL: " + f, file=sys.stderr)
print("%d problems" % len(failures))
sys.exit(1 if failures else 0)
