"""Deterministic fault injection for POST /api/custom/custom.

A fault is decided from sha256(seed, request body, n) where n is how many
times that same body had been seen before (0 the first time). The decision
therefore does not depend on the order in which requests of different bodies
arrive, and a client that retries the same query sees a fresh, reproducible
draw on every retry.

Kinds:
  500       {"error": ...} from the database layer
  502, 503  a front proxy's answer (JSON or an HTML page, decided by the hash);
            503 carries Retry-After
  429       rate limited, Retry-After
  reset     the TCP connection is closed without a response (SO_LINGER 0: RST)
  stall     headers and part of the body, then nothing for stall_s, then close
  truncate  Content-Length larger than what is sent, then close
  badjson   200 with a Content-Length matching a JSON body cut short
  transient400  400 with a Neo4j TransientError, as neuPrintHTTP 1.9 wraps it
  pool400       400 for a wait on the server's Neo4j connection pool (1.9 text)
"""

import hashlib
import os
import threading

KINDS = ("500", "502", "503", "429", "reset", "stall", "truncate", "badjson",
         "transient400", "pool400")
# what --faults defaults to: the kinds every client must survive by retrying
# the same request; the two 400 kinds are asked for by name (or "all")
DEFAULT_KINDS = KINDS[:8]


def parse_kinds(spec):
    """'500,reset' or ['500', 'reset'] -> tuple of kinds (ValueError on unknown)."""
    if isinstance(spec, str):
        items = [s.strip() for s in spec.split(",") if s.strip()]
    else:
        items = [str(s).strip() for s in spec]
    out = []
    for k in items:
        if k == "all":
            out.extend(x for x in KINDS if x not in out)
            continue
        if k not in KINDS:
            raise ValueError("unknown fault kind %r (known: %s)" % (k, ",".join(KINDS)))
        if k not in out:
            out.append(k)
    return tuple(out)


def escaped_forms(name):
    """The ways a type name can appear inside a Cypher string literal."""
    forms = [name]
    b = name.replace("\\", "\\\\")
    for q in ("'", '"'):
        f = b.replace(q, "\\" + q)
        if f not in forms:
            forms.append(f)
    return forms


def load_fail_types(spec):
    """--fail-types: a path to a file (one name per line, blank lines and
    lines starting with '#' ignored) or a comma-separated list of names."""
    if not spec:
        return ()
    if os.path.isfile(spec):
        with open(spec, encoding="utf-8") as f:
            names = [ln.rstrip("\r\n") for ln in f]
        names = [n for n in names if n.strip() and not n.startswith("#")]
    else:
        names = [n.strip() for n in spec.split(",") if n.strip()]
    return tuple(dict.fromkeys(names))


class Faults:
    def __init__(self, seed=1, rate=0.0, kinds=KINDS, fail_types=()):
        self.seed = seed
        self.rate = float(rate)
        self.kinds = parse_kinds(kinds)
        self.set_fail_types(fail_types)
        self._seen = {}
        self._lock = threading.Lock()

    def set_fail_types(self, names):
        self.fail_types = tuple(names)
        self._fail_forms = [(n, f) for n in self.fail_types for f in escaped_forms(n)]

    def seen(self, body):
        """Count this body; returns how many times it had been seen before."""
        key = hashlib.sha256(body).digest()
        with self._lock:
            n = self._seen.get(key, 0)
            self._seen[key] = n + 1
        return n

    def draw(self, body, n):
        """(fault kind or None, 64-bit hash for secondary choices)."""
        h = hashlib.sha256(b"neuprint-emu-fault\0%d\0%d\0" % (int(self.seed), n) + body).digest()
        u = int.from_bytes(h[:8], "big") / 2.0 ** 64
        aux = int.from_bytes(h[8:16], "big")
        kinds = self.kinds
        if not kinds or self.rate <= 0.0 or u >= self.rate:
            return None, aux
        return kinds[int.from_bytes(h[16:24], "big") % len(kinds)], aux

    def failing_type(self, cypher_text):
        """The first --fail-types name the query text mentions, or None."""
        for name, form in self._fail_forms:
            if form in cypher_text:
                return name
        return None
