"""What the code accepts, read from the code's own tables, and what the man
pages document, read from their scdoc sources. Used by test_manpages.py and
test_completion.py, so that adding an option, command or setting to the
code means adding one entry to a man page (and the test says which).

From the code:
- quickpaged's and qpctl's options: their getopt_long tables (struct option
  NAME[]) and short-option strings, plus every option a command compares
  an argument with (strcmp(argv[i], "--quick"): qpctl's submit options);
- qpctl's commands: the protocol's op table (protocol/protocol.c op_names);
  their words (create-index, cache's stats and clear): the non-option
  literals qpctl compares an argument with;
- the daemon's settings: the keys of daemon/settings.c's libcyaml schema
  (raw_fields);
- the site config's keys: pipeline/config.c's table of known keys (every
  non-mapping entry: the neuprint/output/html keys read and every
  quickpaged: key).
- quickpaged's environment: every getenv("X") and hide_env("X") in daemon/
  and pipeline/, the variables in pipeline/neuprint/proxy.c's tables, and libuv's
  UV_THREADPOOL_SIZE; not the test hooks (QP_TEST_*).

From a man page: the "entries" of a section, i.e. the lines at column 0
that start with a bold word (scdoc `*word*`), each followed by its
indented description. An entry names every bold word on its first line.
"""
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _read(rel):
    with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
        return f.read()


def _block(text, start_re, end_re, what):
    m = re.search(start_re, text)
    if not m:
        raise AssertionError("cannot find %s (%s) in the code" % (what, start_re))
    e = re.compile(end_re).search(text, m.end())
    if not e:
        raise AssertionError("cannot find the end of %s" % what)
    return text[m.end():e.start()]


def _strip_comments(text):
    return re.sub(r"/\*.*?\*/", "", text, flags=re.S)


def getopt_options(rel):
    """Long options of every struct option table and short ones of every
    getopt_long option string in REL, as '--name' and '-c'."""
    text = _strip_comments(_read(rel))
    out = set()
    for body in re.findall(r"struct option \w+\[\]\s*=\s*\{(.*?)\n\s*\};", text, re.S):
        out |= {"--" + n for n in re.findall(r'\{\s*"([^"]+)"\s*,', body)}
    for s in re.findall(r'getopt_long\([^,]+,[^,]+,\s*"([^"]*)"', text):
        out |= {"-" + c for c in s.lstrip("+-:") if c.isalnum()}
    if not out:
        raise AssertionError("%s: no getopt_long table found" % rel)
    return out


def argv_literals(rel):
    """The literals REL compares an argv word with: (options, words)."""
    text = _strip_comments(_read(rel))
    lits = re.findall(r'str(?:n)?cmp\(\s*argv\[[^\]]*\]\s*,\s*"([^"]+)"', text)
    # qpctl's value options: valopt(argc, argv, &i, "--long", "-s" or NULL, ...)
    for m in re.findall(r'valopt\(\s*argc\s*,\s*argv\s*,[^,]+,\s*"([^"]+)"\s*,\s*'
                        r'(?:"([^"]+)"|NULL)', text):
        lits += [x for x in m if x]
    opts = {re.sub(r"=.*", "", s) for s in lits if s.startswith("-")}
    words = {s for s in lits if not s.startswith("-")}
    return opts, words


def quickpaged_options():
    return getopt_options("daemon/main.c")


def qpctl_options():
    return getopt_options("client/qpctl.c") | argv_literals("client/qpctl.c")[0]


def qpctl_commands():
    body = _block(_read("protocol/protocol.c"), r"op_names\[[^\]]*\]\s*=\s*\{", r"\};",
                  "the protocol's op_names table")
    ops = set(re.findall(r'"([a-z-]+)"', body))
    if len(ops) < 5:
        raise AssertionError("op_names: only %r" % ops)
    return ops


def qpctl_words():
    return argv_literals("client/qpctl.c")[1]


def daemon_settings():
    body = _block(_strip_comments(_read("daemon/settings.c")),
                  r"cyaml_schema_field_t raw_fields\[\]\s*=\s*\{", r"CYAML_FIELD_END",
                  "the settings' libcyaml schema (raw_fields)")
    keys = set(re.findall(r'"([a-z0-9_]+)"', body))
    if len(keys) < 5:
        raise AssertionError("raw_fields: only %r" % keys)
    return keys


def site_keys():
    body = _block(_strip_comments(_read("pipeline/config.c")),
                  r"struct known known\[\]\s*=\s*\{", r"\n\};", "config.c's known[] table")
    keys = {k for k, kind in re.findall(r'\{\s*"([a-z0-9_.]+)"\s*,\s*(K_\w+)\s*\}', body)
            if kind != "K_MAP"}
    if not any(k.startswith("quickpaged.") for k in keys):
        raise AssertionError("known[]: no quickpaged.* key in %r" % keys)
    return keys


# ---- man pages ----

def environment():
    out = {"UV_THREADPOOL_SIZE"}    # libuv reads it; we document it
    for d in ("daemon", "pipeline"):
        for f in sorted(os.listdir(os.path.join(ROOT, d))):
            if f.endswith(".c"):
                text = _strip_comments(_read(os.path.join(d, f)))
                out |= set(re.findall(r'\b(?:getenv|hide_env)\("(\w+)"\)', text))
    proxy = _strip_comments(_read("pipeline/neuprint/proxy.c"))
    for table in ("proxy_vars", "no_proxy_vars"):
        out |= set(re.findall(r'"(\w+)"', _block(
            proxy, r"\b%s\[[A-Z_]*\] = \{" % table, r"\};", table)))
    return {v for v in out if not v.startswith("QP_TEST_")}


def man_sections(page):
    """{SECTION: [entry head line, ...]} of man/PAGE.scd."""
    secs, cur = {}, None
    for line in _read(os.path.join("man", page + ".scd")).splitlines():
        if line.startswith("# "):
            cur = line[2:].strip()
            secs[cur] = []
        elif cur and line.startswith("*"):
            secs[cur].append(line)
    return secs


def bold(line):
    return re.findall(r"\*([^*\s]+)\*", line)


def documented(page, sections):
    """Every bold word of the entry heads of SECTIONS of PAGE, as
    [(section, head, [words])]."""
    secs = man_sections(page)
    out = []
    for s in sections:
        if s not in secs:
            raise AssertionError("man/%s.scd has no section '# %s'" % (page, s))
        out += [(s, h, bold(h)) for h in secs[s]]
    return out
