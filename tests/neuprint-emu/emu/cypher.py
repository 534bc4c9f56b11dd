"""Cypher subset engine of the neuPrint emulator (standard library only).

    execute(dataset, text[, label_prefix, memo]) -> Result
                                          run one query against a Dataset
    Memo()                                per-type answers of batched queries,
                                          for a dataset that never changes
    shape_of(text) -> str                 the query with literals as ?, for stats

A real tokenizer and recursive-descent parser turn the text into clauses; the
clauses are then compiled into the source of one Python function (nested
``for`` loops, one per UNWIND / MATCH, with plain locals for row variables)
which is compiled once with compile() and cached by query text.  Nothing is
tree-walked per row.  See README-cypher.md for the accepted subset.
"""

import gc
import json
import math
import re
import threading
from collections import OrderedDict
from decimal import Decimal

__all__ = ["CypherError", "Cost", "Result", "Memo", "execute", "shape_of"]


# --------------------------------------------------------------------------
# public types

class CypherError(Exception):
    """A query the emulator refuses or cannot run; ``message`` is Neo4j-like."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


class Cost:
    """What one query did, for the server's cost model."""

    __slots__ = ("scanned", "matched", "json_parsed", "rows_out")

    def __init__(self, scanned=0, matched=0, json_parsed=0, rows_out=0):
        self.scanned = scanned
        self.matched = matched
        self.json_parsed = json_parsed
        self.rows_out = rows_out

    def as_dict(self):
        return {k: getattr(self, k) for k in self.__slots__}

    def __eq__(self, other):
        return isinstance(other, Cost) and self.as_dict() == other.as_dict()

    def __repr__(self):
        return "Cost(scanned=%d, matched=%d, json_parsed=%d, rows_out=%d)" % (
            self.scanned, self.matched, self.json_parsed, self.rows_out)


class Result:
    __slots__ = ("columns", "rows", "cost")

    def __init__(self, columns, rows, cost):
        self.columns = columns
        self.rows = rows
        self.cost = cost

    def __repr__(self):
        return "Result(columns=%r, rows=<%d>, cost=%r)" % (
            self.columns, len(self.rows), self.cost)


# --------------------------------------------------------------------------
# errors with positions

def _where(text, pos):
    line = text.count("\n", 0, pos) + 1
    ls = text.rfind("\n", 0, pos) + 1
    le = text.find("\n", pos)
    if le < 0:
        le = len(text)
    col = pos - ls + 1
    return line, col, text[ls:le]


def _err(text, pos, msg):
    pos = max(0, min(pos, len(text)))
    line, col, src = _where(text, pos)
    return CypherError('%s (line %d, column %d (offset: %d))\n"%s"\n%s^' % (
        msg, line, col, pos, src, " " * col))


# --------------------------------------------------------------------------
# tokenizer

_TOKEN_RE = re.compile(r"""
   (?P<ws>\s+)
 | (?P<lc>//[^\n]*)
 | (?P<bc>/\*.*?\*/)
 | (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
 | (?P<num>0[xX][0-9a-fA-F]+|(?:\d+\.\d+|\.\d+|\d+)(?:[eE][+-]?\d+)?)
 | (?P<id>[^\W\d]\w*)
 | (?P<bq>`(?:[^`]|``)*`)
 | (?P<op><>|<=|>=|!=|=~|\.\.|[-+*/%^=<>()\[\]{},.:;|$&!])
""", re.X | re.S)

_ESC_RE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|(.))", re.S)
_ESC = {"\\": "\\", "'": "'", '"': '"', "b": "\b", "B": "\b", "f": "\f",
        "F": "\f", "n": "\n", "N": "\n", "r": "\r", "R": "\r", "t": "\t",
        "T": "\t"}
_INT_MAX = 2 ** 63 - 1


class _Tok:
    __slots__ = ("kind", "val", "pos", "end", "up")

    def __init__(self, kind, val, pos, end, up):
        self.kind = kind    # str num id bq op eof
        self.val = val
        self.pos = pos
        self.end = end
        self.up = up        # upper-cased text of identifiers (keywords)


def _unescape(text, pos, s):
    body = s[1:-1]
    if "\\" not in body:
        return body
    out = []
    last = 0
    surrogates = False
    for m in _ESC_RE.finditer(body):
        out.append(body[last:m.start()])
        last = m.end()
        u4, u8, c = m.groups()
        if u4 is not None:
            cp = int(u4, 16)
            if 0xD800 <= cp <= 0xDFFF:
                surrogates = True
            out.append(chr(cp))
        elif u8 is not None:
            cp = int(u8, 16)
            if cp > 0x10FFFF:
                raise _err(text, pos + 1 + m.start(),
                           "Invalid input '\\U%s': invalid unicode escape" % u8)
            out.append(chr(cp))
        else:
            r = _ESC.get(c)
            if r is None:
                raise _err(text, pos + 1 + m.start(),
                           "Invalid input '\\%s': invalid escape sequence in "
                           "string literal" % c)
            out.append(r)
    out.append(body[last:])
    val = "".join(out)
    if surrogates:
        val = val.encode("utf-16-le", "surrogatepass").decode(
            "utf-16-le", "surrogatepass")
    return val


def _number(text, pos, s):
    if s[:2] in ("0x", "0X"):
        v = int(s, 16)
    elif "." in s or "e" in s or "E" in s:
        return float(s)
    else:
        v = int(s)
    if v > _INT_MAX + 1:        # +1: -9223372036854775808 is written as -(2**63)
        raise _err(text, pos, "integer is too large")
    return v


def _tokenize(text):
    toks = []
    pos = 0
    n = len(text)
    match = _TOKEN_RE.match
    while pos < n:
        m = match(text, pos)
        if m is None:
            c = text[pos]
            if c in "'\"":
                raise _err(text, pos, "Failed to parse string literal. The query "
                           "must contain an even number of non-escaped quotes.")
            if text.startswith("/*", pos):
                raise _err(text, pos, "Failed to parse comment. A comment "
                           "starting on `/*` must have a closing `*/`.")
            if c == "`":
                raise _err(text, pos, "Failed to parse identifier. A backquoted "
                           "identifier must be closed by a backquote.")
            raise _err(text, pos, "Invalid input '%s': expected an identifier, "
                       "a literal, an operator or whitespace" % c)
        kind = m.lastgroup
        end = m.end()
        if kind == "ws" or kind == "lc" or kind == "bc":
            pos = end
            continue
        s = m.group()
        up = None
        if kind == "str":
            val = _unescape(text, pos, s)
        elif kind == "num":
            val = _number(text, pos, s)
        elif kind == "bq":
            val = s[1:-1].replace("``", "`")
        else:
            val = s
            if kind == "id":
                up = s.upper()
        toks.append(_Tok(kind, val, pos, end, up))
        pos = end
    toks.append(_Tok("eof", None, n, n, None))
    return toks


# --------------------------------------------------------------------------
# AST

class _E:
    """Expression node: kind, args tuple, start and end offsets."""
    __slots__ = ("k", "a", "s", "e")

    def __init__(self, k, a, s, e):
        self.k = k
        self.a = a
        self.s = s
        self.e = e

    def __repr__(self):
        return "_E(%s, %r)" % (self.k, self.a)


class _Clause:
    def __init__(self, kind, pos, **kw):
        self.kind = kind
        self.pos = pos
        self.__dict__.update(kw)


def _skey(e):
    """Structural key of an expression (positions ignored)."""
    if not isinstance(e, _E):
        if isinstance(e, tuple):
            return tuple(_skey(x) for x in e)
        if isinstance(e, float):
            return ("f", repr(e))
        return (type(e).__name__, e)
    a = e.a[:3] if e.k == "call" else e.a
    return (e.k,) + tuple(_skey(x) for x in a)


def _walk(e):
    yield e
    for a in e.a:
        if isinstance(a, _E):
            yield from _walk(a)
        elif isinstance(a, tuple):
            for x in a:
                if isinstance(x, _E):
                    yield from _walk(x)
                elif isinstance(x, tuple):
                    for y in x:
                        if isinstance(y, _E):
                            yield from _walk(y)


def _refs(e):
    return {x.a[0] for x in _walk(e) if x.k == "var"}


_AGG = {"count", "sum", "min", "max", "avg", "collect"}


def _is_agg(e):
    return e.k == "countstar" or (e.k == "call" and e.a[0] in _AGG)


def _has_agg(e):
    return any(_is_agg(x) for x in _walk(e))


def _split_and(e):
    if e.k == "and":
        return _split_and(e.a[0]) + _split_and(e.a[1])
    return [e]


_NOCONST = object()


def _constval(e):
    k = e.k
    if k == "lit":
        return e.a[0]
    if k == "list":
        out = []
        for x in e.a:
            v = _constval(x)
            if v is _NOCONST:
                return _NOCONST
            out.append(v)
        return out
    return _NOCONST


# --------------------------------------------------------------------------
# parser

# name -> (min args, max args or None)
_FUNCS = {
    "count": (1, 1), "sum": (1, 1), "min": (1, 1), "max": (1, 1),
    "avg": (1, 1), "collect": (1, 1),
    "keys": (1, 1), "size": (1, 1), "tolower": (1, 1), "toupper": (1, 1),
    "coalesce": (1, None), "tostring": (1, 1), "tointeger": (1, 1),
    "tofloat": (1, 1), "head": (1, 1), "last": (1, 1), "exists": (1, 1),
    "trim": (1, 1), "properties": (1, 1),
    "apoc.convert.fromjsonmap": (1, 1), "apoc.convert.fromjsonlist": (1, 1),
}

_RESERVED = {
    "MATCH", "OPTIONAL", "UNWIND", "WITH", "RETURN", "WHERE", "ORDER", "BY",
    "SKIP", "LIMIT", "AS", "AND", "OR", "XOR", "NOT", "IN", "IS", "DISTINCT",
    "CREATE", "DELETE", "DETACH", "MERGE", "SET", "REMOVE", "CALL", "UNION",
    "FOREACH", "LOAD", "CASE", "WHEN", "THEN", "ELSE", "END", "ASC", "DESC",
    "ASCENDING", "DESCENDING", "STARTS", "ENDS", "CONTAINS", "YIELD", "USING",
}
_WRITE = {"CREATE", "DELETE", "DETACH", "MERGE", "SET", "REMOVE", "FOREACH",
          "LOAD", "DROP", "ALTER", "GRANT", "DENY", "REVOKE", "RENAME"}
_OTHER_CLAUSES = {"OPTIONAL", "CALL", "UNION", "USE", "SHOW", "EXPLAIN",
                  "PROFILE", "USING", "START", "TERMINATE", "FINISH", "CYPHER",
                  "INSERT", "FILTER", "LET", "OFFSET"}
_CLAUSES_EXPECTED = "'MATCH', 'UNWIND', 'WITH' or 'RETURN'"


class _Parser:
    def __init__(self, text):
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0

    # token helpers
    @property
    def tok(self):
        return self.toks[self.i]

    def peek(self, k):
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else self.toks[-1]

    def adv(self):
        t = self.toks[self.i]
        if t.kind != "eof":
            self.i += 1
        return t

    def is_kw(self, *words, k=0):
        t = self.peek(k)
        return t.kind == "id" and t.up in words

    def is_op(self, *ops, k=0):
        t = self.peek(k)
        return t.kind == "op" and t.val in ops

    def err(self, pos, msg):
        return _err(self.text, pos, msg)

    def fail(self, expected, t=None):
        t = t or self.tok
        if t.kind == "eof":
            raise self.err(t.pos, "Unexpected end of input: expected %s" % expected)
        shown = self.text[t.pos:t.end]
        if len(shown) > 40:
            shown = shown[:37] + "..."
        raise self.err(t.pos, "Invalid input '%s': expected %s" % (shown, expected))

    def expect_op(self, op, expected=None):
        if not self.is_op(op):
            self.fail(expected or "'%s'" % op)
        return self.adv()

    def expect_kw(self, kw):
        if not self.is_kw(kw):
            self.fail("'%s'" % kw)
        return self.adv()

    def name(self, what):
        t = self.tok
        if t.kind == "bq" or t.kind == "id":
            self.adv()
            return t.val, t.pos
        self.fail(what)

    def unsupported(self, t, msg):
        raise self.err(t.pos, "Invalid input '%s': %s" % (
            self.text[t.pos:t.end], msg))

    # clauses
    def parse(self):
        clauses = []
        while True:
            t = self.tok
            if t.kind == "eof":
                break
            if t.kind == "op" and t.val == ";":
                self.adv()
                if self.tok.kind != "eof":
                    self.fail("end of input (one statement per request)")
                break
            if clauses and clauses[-1].kind == "RETURN":
                if t.kind == "id" and t.up == "UNION":
                    self.unsupported(t, "UNION is not supported by the emulator")
                if t.kind == "id" and t.up in ("MATCH", "UNWIND", "WITH",
                                               "RETURN"):
                    raise self.err(clauses[-1].pos, "RETURN can only be used "
                                   "at the end of the query")
                self.fail("',', 'AS', 'ORDER BY', 'SKIP', 'LIMIT', ';' or end "
                          "of input")
            if t.kind != "id":
                self.fail(_CLAUSES_EXPECTED)
            u = t.up
            if u == "MATCH":
                clauses.append(self.p_match())
            elif u == "UNWIND":
                clauses.append(self.p_unwind())
            elif u == "WITH" or u == "RETURN":
                clauses.append(self.p_projection(u))
            elif u in _WRITE:
                self.unsupported(t, "write clauses are not supported: the "
                                 "emulator only runs read-only queries made of "
                                 "MATCH, UNWIND, WITH and RETURN")
            elif u == "OPTIONAL":
                self.unsupported(t, "OPTIONAL MATCH is not supported by the "
                                 "emulator")
            elif u in _OTHER_CLAUSES:
                self.unsupported(t, "%s is not supported by the emulator "
                                 "(clauses: MATCH, UNWIND, WITH, RETURN)" % u)
            else:
                self.fail(_CLAUSES_EXPECTED)
        if not clauses:
            raise self.err(len(self.text), "Unexpected end of input: expected "
                           + _CLAUSES_EXPECTED)
        last = clauses[-1]
        if last.kind != "RETURN":
            raise self.err(last.pos, "Query cannot conclude with %s (must be a "
                           "RETURN clause, an update clause, a unit subquery "
                           "call, or a procedure call with no YIELD)" % last.kind)
        return clauses

    def p_match(self):
        kw = self.adv()
        pats = [self.p_pattern()]
        while self.is_op(","):
            self.adv()
            pats.append(self.p_pattern())
        where = None
        if self.is_kw("WHERE"):
            self.adv()
            where = self.p_expr()
        return _Clause("MATCH", kw.pos, patterns=pats, where=where)

    def p_pattern(self):
        t = self.tok
        if t.kind in ("id", "bq") and self.is_op("=", k=1):
            self.unsupported(t, "named paths are not supported by the emulator")
        if not self.is_op("("):
            self.fail("'('")
        start = self.adv().pos
        var = None
        vpos = start
        t = self.tok
        if t.kind == "bq" or (t.kind == "id" and t.up not in _RESERVED):
            var, vpos = t.val, t.pos
            self.adv()
        labels = []
        while self.is_op(":"):
            self.adv()
            lab, lpos = self.name("a label name")
            labels.append((lab, lpos))
            if self.is_op("|", "&", "!"):
                self.unsupported(self.tok, "label expressions are not "
                                 "supported by the emulator")
        props = []
        if self.is_op("{"):
            props = self.p_map().a
        if self.is_kw("WHERE"):
            self.unsupported(self.tok, "WHERE inside a node pattern is not "
                             "supported by the emulator")
        self.expect_op(")", "')', ':' or '{'")
        if self.is_op("-", "<"):
            self.unsupported(self.tok, "relationship patterns are not "
                             "supported by the emulator (only single-node "
                             "patterns such as (n:Neuron))")
        return (var, vpos, labels, props, start)

    def p_unwind(self):
        kw = self.adv()
        e = self.p_expr()
        self.expect_kw("AS")
        alias, apos = self.name("a variable name")
        return _Clause("UNWIND", kw.pos, expr=e, alias=alias, apos=apos)

    def p_projection(self, kind):
        kw = self.adv()
        distinct = False
        if self.is_kw("DISTINCT"):
            self.adv()
            distinct = True
        star = False
        items = []
        if self.is_op("*"):
            self.adv()
            star = True
            if self.is_op(","):
                self.adv()
                items.append(self.p_item())
        else:
            items.append(self.p_item())
        while self.is_op(","):
            self.adv()
            items.append(self.p_item())
        order = []
        if self.is_kw("ORDER"):
            self.adv()
            self.expect_kw("BY")
            while True:
                e = self.p_expr()
                desc = False
                if self.is_kw("ASC", "ASCENDING"):
                    self.adv()
                elif self.is_kw("DESC", "DESCENDING"):
                    self.adv()
                    desc = True
                order.append((e, desc))
                if not self.is_op(","):
                    break
                self.adv()
        skip = limit = None
        if self.is_kw("SKIP", "OFFSET"):
            self.adv()
            skip = self.p_expr()
        if self.is_kw("LIMIT"):
            self.adv()
            limit = self.p_expr()
        where = None
        if kind == "WITH" and self.is_kw("WHERE"):
            self.adv()
            where = self.p_expr()
        return _Clause(kind, kw.pos, distinct=distinct, star=star, items=items,
                       order=order, skip=skip, limit=limit, where=where)

    def p_item(self):
        start = self.tok.pos
        e = self.p_expr()
        end = self.toks[self.i - 1].end
        src = self.text[start:end]
        alias = None
        if self.is_kw("AS"):
            self.adv()
            alias, _ = self.name("a variable name")
        return (e, alias, src, start)

    # expressions
    def p_expr(self):
        return self.p_or()

    def p_or(self):
        x = self.p_xor()
        while self.is_kw("OR"):
            self.adv()
            y = self.p_xor()
            x = _E("or", (x, y), x.s, y.e)
        return x

    def p_xor(self):
        x = self.p_and()
        while self.is_kw("XOR"):
            self.adv()
            y = self.p_and()
            x = _E("xor", (x, y), x.s, y.e)
        return x

    def p_and(self):
        x = self.p_not()
        while self.is_kw("AND"):
            self.adv()
            y = self.p_not()
            x = _E("and", (x, y), x.s, y.e)
        return x

    def p_not(self):
        if self.is_kw("NOT"):
            t = self.adv()
            x = self.p_not()
            return _E("not", (x,), t.pos, x.e)
        return self.p_cmp()

    def p_cmp(self):
        x = self.p_pred()
        parts = []
        while True:
            t = self.tok
            if t.kind != "op":
                break
            if t.val in ("=", "<>", "<", ">", "<=", ">="):
                self.adv()
                parts.append((t.val, self.p_pred()))
            elif t.val == "!=":
                raise self.err(t.pos, "Unknown operation '!=' (you probably "
                               "meant to use '<>', which is the operator for "
                               "inequality testing)")
            elif t.val == "=~":
                self.unsupported(t, "regular expressions are not supported by "
                                 "the emulator")
            else:
                break
        if not parts:
            return x
        res = None
        left = x
        for op, y in parts:
            c = _E("cmp", (op, left, y), left.s, y.e)
            res = c if res is None else _E("and", (res, c), res.s, c.e)
            left = y
        return res

    def p_pred(self):
        x = self.p_add()
        while True:
            if self.is_kw("IS"):
                self.adv()
                neg = False
                if self.is_kw("NOT"):
                    self.adv()
                    neg = True
                if not self.is_kw("NULL"):
                    self.fail("'NULL'" if neg else "'NOT' or 'NULL'")
                t = self.adv()
                x = _E("isnull", (x, neg), x.s, t.end)
            elif self.is_kw("IN"):
                self.adv()
                y = self.p_add()
                x = _E("in", (x, y), x.s, y.e)
            elif self.is_kw("STARTS", "ENDS"):
                op = self.adv().up
                self.expect_kw("WITH")
                y = self.p_add()
                x = _E("strop", (op, x, y), x.s, y.e)
            elif self.is_kw("CONTAINS"):
                self.adv()
                y = self.p_add()
                x = _E("strop", ("CONTAINS", x, y), x.s, y.e)
            else:
                return x

    def p_add(self):
        x = self.p_mul()
        while self.is_op("+", "-"):
            op = self.adv().val
            y = self.p_mul()
            x = _E("bin", (op, x, y), x.s, y.e)
        return x

    def p_mul(self):
        x = self.p_pow()
        while self.is_op("*", "/", "%"):
            op = self.adv().val
            y = self.p_pow()
            x = _E("bin", (op, x, y), x.s, y.e)
        return x

    def p_pow(self):
        x = self.p_unary()
        while self.is_op("^"):
            self.adv()
            y = self.p_unary()
            x = _E("bin", ("^", x, y), x.s, y.e)
        return x

    def p_unary(self, negated=False):
        if self.is_op("-"):
            t = self.adv()
            x = self.p_unary(True)
            if x.k == "lit" and type(x.a[0]) in (int, float):
                return _E("lit", (-x.a[0],), t.pos, x.e)
            return _E("neg", (x,), t.pos, x.e)
        if self.is_op("+"):
            self.adv()
            return self.p_unary()
        x = self.p_postfix()
        if not negated and x.k == "lit" and type(x.a[0]) is int \
                and x.a[0] > _INT_MAX:
            raise self.err(x.s, "integer is too large")
        return x

    def p_postfix(self):
        x = self.p_atom()
        while True:
            if self.is_op("."):
                self.adv()
                key, _ = self.name("a property key name")
                x = _E("prop", (x, key), x.s, self.toks[self.i - 1].end)
            elif self.is_op("["):
                self.adv()
                if self.is_op(".."):
                    self.unsupported(self.tok, "list slices are not supported "
                                     "by the emulator")
                i = self.p_expr()
                if self.is_op(".."):
                    self.unsupported(self.tok, "list slices are not supported "
                                     "by the emulator")
                t = self.expect_op("]")
                x = _E("idx", (x, i), x.s, t.end)
            else:
                return x

    def p_atom(self):
        t = self.tok
        k = t.kind
        if k == "num" or k == "str":
            self.adv()
            return _E("lit", (t.val,), t.pos, t.end)
        if k == "op":
            v = t.val
            if v == "(":
                self.adv()
                x = self.p_expr()
                self.expect_op(")", "')' or an operator")
                return x
            if v == "[":
                return self.p_list()
            if v == "{":
                return self.p_map()
            if v == "$":
                nt = self.peek(1)
                raise self.err(t.pos, "Expected parameter(s): %s (queries "
                               "sent to /api/custom/custom carry no "
                               "parameters)" % (nt.val if nt.kind in ("id", "bq", "num") else ""))
            self.fail("an expression")
        if k == "bq":
            self.adv()
            return _E("var", (t.val,), t.pos, t.end)
        if k == "id":
            u = t.up
            if u == "TRUE" or u == "FALSE" or u == "NULL":
                self.adv()
                return _E("lit", ({"TRUE": True, "FALSE": False}.get(u),),
                          t.pos, t.end)
            if u == "CASE":
                return self.p_case()
            if u in ("EXISTS", "COUNT", "COLLECT") and self.is_op("{", k=1):
                self.unsupported(t, "subqueries are not supported by the "
                                 "emulator")
            j = self.i
            names = [t.val]
            while (self.toks[j + 1].kind == "op" and self.toks[j + 1].val == "."
                   and self.toks[j + 2].kind == "id"):
                names.append(self.toks[j + 2].val)
                j += 2
            if self.toks[j + 1].kind == "op" and self.toks[j + 1].val == "(":
                self.i = j + 2
                return self.p_call(t, ".".join(names))
            if u in _RESERVED:
                self.fail("an expression")
            self.adv()
            return _E("var", (t.val,), t.pos, t.end)
        self.fail("an expression")

    def p_case(self):
        """CASE [subject] WHEN x THEN y ... [ELSE z] END: without a subject
        each x is a predicate; with one, x is compared with it by `=`."""
        t = self.adv()
        subject = None if self.is_kw("WHEN") else self.p_expr()
        pairs = []
        while self.is_kw("WHEN"):
            self.adv()
            w = self.p_expr()
            self.expect_kw("THEN")
            pairs.append((w, self.p_expr()))
        if not pairs:
            self.fail("'WHEN'")
        other = None
        if self.is_kw("ELSE"):
            self.adv()
            other = self.p_expr()
        if not self.is_kw("END"):
            self.fail("'WHEN', 'ELSE' or 'END'" if other is None else "'END'")
        end = self.adv()
        return _E("case", (subject, tuple(pairs), other), t.pos, end.end)

    def p_call(self, t, name):
        lname = name.lower()
        spec = _FUNCS.get(lname)
        if spec is None:
            raise self.err(t.pos, "Unknown function '%s'" % name)
        if lname == "count" and self.is_op("*"):
            self.adv()
            c = self.expect_op(")")
            return _E("countstar", (), t.pos, c.end)
        distinct = False
        if self.is_kw("DISTINCT"):
            d = self.adv()
            if lname not in _AGG:
                raise self.err(d.pos, "Invalid use of DISTINCT with function "
                               "'%s'" % name)
            distinct = True
        args = []
        if not self.is_op(")"):
            args.append(self.p_expr())
            while self.is_op(","):
                self.adv()
                args.append(self.p_expr())
        c = self.expect_op(")", "')' or ','")
        lo, hi = spec
        if len(args) < lo:
            raise self.err(t.pos, "Insufficient parameters for function '%s'"
                           % name)
        if hi is not None and len(args) > hi:
            raise self.err(t.pos, "Too many parameters for function '%s'" % name)
        return _E("call", (lname, tuple(args), distinct, name), t.pos, c.end)

    def p_list(self):
        t = self.adv()
        if self.tok.kind in ("id", "bq") and self.is_kw("IN", k=1):
            self.unsupported(t, "list comprehensions are not supported by the "
                             "emulator")
        items = []
        toks = self.toks
        if not self.is_op("]"):
            while True:
                # fast path for the long literal lists of batched queries
                t = toks[self.i]
                nt = toks[self.i + 1] if t.kind != "eof" else t
                if (t.kind == "str" or (t.kind == "num" and t.val <= _INT_MAX)
                        ) and nt.kind == "op" and nt.val in (",", "]"):
                    self.i += 1
                    items.append(_E("lit", (t.val,), t.pos, t.end))
                else:
                    items.append(self.p_expr())
                if not self.is_op(","):
                    break
                self.adv()
        c = self.expect_op("]", "',' or ']'")
        return _E("list", tuple(items), t.pos, c.end)

    def p_map(self):
        t = self.adv()
        entries = []
        if not self.is_op("}"):
            while True:
                kt = self.tok
                key, _ = self.name("a property key name")
                self.expect_op(":")
                e = self.p_expr()
                entries.append((key, e, kt.pos))
                if not self.is_op(","):
                    break
                self.adv()
        c = self.expect_op("}", "',' or '}'")
        return _E("map", tuple(entries), t.pos, c.end)


# --------------------------------------------------------------------------
# runtime helpers (used by generated code)

_NUMT = (int, float)


class _Done(Exception):
    pass


def _tn(v):
    if v is None:
        return "NULL"
    c = v.__class__
    return {bool: "Boolean", int: "Long", float: "Double", str: "String",
            list: "List", dict: "Map"}.get(c, c.__name__)


def _fstr(f):
    if f != f:
        return "NaN"
    if f in (math.inf, -math.inf):
        return "Infinity" if f > 0 else "-Infinity"
    a = abs(f)
    if a == 0 or 1e-3 <= a < 1e7:
        s = repr(f)
        return s if ("." in s or "e" in s) else s + ".0"
    sign, digits, exp = Decimal(repr(f)).as_tuple()
    ds = "".join(map(str, digits)).rstrip("0") or "0"
    e10 = len(digits) - 1 + exp
    return "%s%s.%sE%d" % ("-" if sign else "", ds[0], ds[1:] or "0", e10)


def _tostring(v):
    c = v.__class__
    if v is None or c is str:
        return v
    if c is bool:
        return "true" if v else "false"
    if c is int:
        return str(v)
    if c is float:
        return _fstr(v)
    raise CypherError("Type mismatch: expected Boolean, Float, Integer, String "
                      "or Null but was %s" % _tn(v))


def _tointeger(v):
    c = v.__class__
    if v is None or c is int:
        return v
    if c is bool:
        return 1 if v else 0
    if c is float:
        if v != v or v in (math.inf, -math.inf):
            return None
        return int(v)
    if c is str:
        try:
            return int(v.strip())
        except ValueError:
            try:
                f = float(v)
            except ValueError:
                return None
            return _tointeger(f)
    raise CypherError("Type mismatch: expected String, Boolean or Number but "
                      "was %s" % _tn(v))


def _tofloat(v):
    c = v.__class__
    if v is None or c is float:
        return v
    if c is int:
        return float(v)
    if c is str:
        try:
            return float(v)
        except ValueError:
            return None
    raise CypherError("Type mismatch: expected String or Number but was %s"
                      % _tn(v))


def _k(v):
    """Hashable grouping / DISTINCT key with Cypher equivalence."""
    c = v.__class__
    if c is str or c is int or c is float or v is None:
        return v
    if c is bool:
        return ("\0b", v)
    if c is list:
        return ("\0l",) + tuple([_k(x) for x in v])
    if c is dict:
        return ("\0m",) + tuple(sorted([(k, _k(x)) for k, x in v.items()]))
    return v


def _ok(v):
    """Sort key with Cypher orderability (ascending: maps < lists < strings <
    booleans < numbers < null)."""
    c = v.__class__
    if c is str:
        return (6, v)
    if c is int or c is float:
        if v != v:
            return (9, 0)
        return (8, v)
    if v is None:
        return (10, 0)
    if c is bool:
        return (7, v)
    if c is list:
        return (3, tuple([_ok(x) for x in v]))
    if c is dict:
        return (0, tuple(sorted([(k, _ok(x)) for k, x in v.items()])))
    return (5, repr(v))


def _min(cur, v):
    if cur is None:
        return v
    return v if _ok(v) < _ok(cur) else cur


def _max(cur, v):
    if cur is None:
        return v
    return v if _ok(v) > _ok(cur) else cur


def _eq(a, b):
    if a is None or b is None:
        return None
    ca = a.__class__
    cb = b.__class__
    if ca is cb and ca is not list and ca is not dict:
        return a == b
    if ca in _NUMT and cb in _NUMT:
        return a == b
    if ca is list and cb is list:
        if len(a) != len(b):
            return False
        res = True
        for x, y in zip(a, b):
            r = _eq(x, y)
            if r is False:
                return False
            if r is None:
                res = None
        return res
    if ca is dict and cb is dict:
        if a.keys() != b.keys():
            return False
        res = True
        for key, x in a.items():
            r = _eq(x, b[key])
            if r is False:
                return False
            if r is None:
                res = None
        return res
    return False


def _ne(a, b):
    r = _eq(a, b)
    return None if r is None else not r


def _cmp(a, b):
    if a is None or b is None:
        return None
    ca = a.__class__
    cb = b.__class__
    if (ca in _NUMT and cb in _NUMT) or (ca is cb and (ca is str or ca is bool)):
        if a != a or b != b:
            return None
        return (a > b) - (a < b)
    if ca is list and cb is list:
        for x, y in zip(a, b):
            r = _cmp(x, y)
            if r is None or r != 0:
                return r
        return (len(a) > len(b)) - (len(a) < len(b))
    return None


def _lt(a, b):
    r = _cmp(a, b)
    return None if r is None else r < 0


def _gt(a, b):
    r = _cmp(a, b)
    return None if r is None else r > 0


def _le(a, b):
    r = _cmp(a, b)
    return None if r is None else r <= 0


def _ge(a, b):
    r = _cmp(a, b)
    return None if r is None else r >= 0


def _in(x, lst):
    if lst is None:
        return None
    if lst.__class__ is not list:
        raise CypherError("Type mismatch: expected List<T> but was %s" % _tn(lst))
    if not lst:
        return False
    if x is None:
        return None
    res = False
    for e in lst:
        r = _eq(x, e)
        if r:
            return True
        if r is None:
            res = None
    return res


def _bool(v):
    if v is None or v.__class__ is bool:
        return v
    raise CypherError("Type mismatch: expected Boolean but was %s" % _tn(v))


def _and(a, b):
    a = _bool(a)
    b = _bool(b)
    if a is False or b is False:
        return False
    if a is None or b is None:
        return None
    return True


def _or(a, b):
    a = _bool(a)
    b = _bool(b)
    if a is True or b is True:
        return True
    if a is None or b is None:
        return None
    return False


def _xor(a, b):
    a = _bool(a)
    b = _bool(b)
    if a is None or b is None:
        return None
    return a is not b


def _not(a):
    a = _bool(a)
    return None if a is None else not a


def _strop(op, a, b):
    if a is None or b is None or a.__class__ is not str or b.__class__ is not str:
        return None
    if op == "STARTS":
        return a.startswith(b)
    if op == "ENDS":
        return a.endswith(b)
    return b in a


def _num2(a, b, what):
    if a.__class__ not in _NUMT or b.__class__ not in _NUMT:
        raise CypherError("Type mismatch: cannot %s `%s` and `%s`"
                          % (what, _tn(a), _tn(b)))


def _add(a, b):
    if a is None or b is None:
        return None
    ca = a.__class__
    cb = b.__class__
    if ca in _NUMT and cb in _NUMT:
        return a + b
    if ca is str:
        if cb is str:
            return a + b
        if cb in _NUMT or cb is bool:
            return a + _tostring(b)
    elif cb is str and (ca in _NUMT or ca is bool):
        return _tostring(a) + b
    if ca is list:
        return a + b if cb is list else a + [b]
    if cb is list:
        return [a] + b
    raise CypherError("Type mismatch: Cannot add `%s` and `%s`" % (_tn(a), _tn(b)))


def _sub(a, b):
    if a is None or b is None:
        return None
    _num2(a, b, "subtract")
    return a - b


def _mul(a, b):
    if a is None or b is None:
        return None
    _num2(a, b, "multiply")
    return a * b


def _div(a, b):
    if a is None or b is None:
        return None
    _num2(a, b, "divide")
    if a.__class__ is int and b.__class__ is int:
        if b == 0:
            raise CypherError("/ by zero")
        q = abs(a) // abs(b)
        return q if (a >= 0) == (b >= 0) else -q
    if b == 0:
        if a == 0 or a != a:
            return math.nan
        return math.inf if (a > 0) == (math.copysign(1, b) > 0) else -math.inf
    return a / b


def _mod(a, b):
    if a is None or b is None:
        return None
    _num2(a, b, "compute the modulo of")
    if a.__class__ is int and b.__class__ is int:
        if b == 0:
            raise CypherError("/ by zero")
        r = abs(a) % abs(b)
        return r if a >= 0 else -r
    if b == 0:
        return math.nan
    return math.fmod(a, b)


def _pow(a, b):
    if a is None or b is None:
        return None
    _num2(a, b, "raise")
    try:
        return math.pow(a, b)
    except (OverflowError, ValueError):
        return math.nan


def _neg(a):
    if a is None:
        return None
    if a.__class__ not in _NUMT:
        raise CypherError("Type mismatch: cannot negate `%s`" % _tn(a))
    return -a


def _prop(x, key):
    if x is None:
        return None
    if x.__class__ is dict:
        return x.get(key)
    raise CypherError("Type mismatch: expected a map but was %s (property '%s')"
                      % (_tn(x), key))


def _index(x, i):
    if x is None or i is None:
        return None
    c = x.__class__
    if c is dict:
        if i.__class__ is not str:
            raise CypherError("Type mismatch: expected a String key but was %s"
                              % _tn(i))
        return x.get(i)
    if c is list:
        if i.__class__ is not int:
            raise CypherError("Type mismatch: expected an Integer index but was "
                              "%s" % _tn(i))
        if -len(x) <= i < len(x):
            return x[i]
        return None
    raise CypherError("Type mismatch: expected a Map or a List but was %s"
                      % _tn(x))


def _unw(v):
    if v.__class__ is list:
        return v
    if v is None:
        return ()
    return (v,)


def _keys(v):
    if v is None:
        return None
    if v.__class__ is dict:
        return list(v)
    raise CypherError("Type mismatch: expected Node, Relationship or Map but "
                      "was %s" % _tn(v))


def _size(v):
    if v is None:
        return None
    if v.__class__ is list or v.__class__ is str:
        return len(v)
    raise CypherError("Type mismatch: expected String or List<T> but was %s"
                      % _tn(v))


def _lower(v):
    if v is None:
        return None
    if v.__class__ is str:
        return v.lower()
    raise CypherError("Type mismatch: expected a string value for: toLower, "
                      "but got: %s" % _tn(v))


def _upper(v):
    if v is None:
        return None
    if v.__class__ is str:
        return v.upper()
    raise CypherError("Type mismatch: expected a string value for: toUpper, "
                      "but got: %s" % _tn(v))


def _trim(v):
    if v is None:
        return None
    if v.__class__ is str:
        return v.strip()
    raise CypherError("Type mismatch: expected a string value for: trim, but "
                      "got: %s" % _tn(v))


def _coalesce(*args):
    for a in args:
        if a is not None:
            return a
    return None


def _props(v):
    """properties(x): a copy of a node's or a map's properties."""
    if v is None:
        return None
    if v.__class__ is dict:
        return dict(v)
    raise CypherError("Type mismatch: expected a map but was %s" % _tn(v))


def _head(v):
    if v is None:
        return None
    if v.__class__ is not list:
        raise CypherError("Type mismatch: expected List<T> but was %s" % _tn(v))
    return v[0] if v else None


def _last(v):
    if v is None:
        return None
    if v.__class__ is not list:
        raise CypherError("Type mismatch: expected List<T> but was %s" % _tn(v))
    return v[-1] if v else None


def _fjn(n, C, pr):
    """apoc.convert.fromJsonMap(n.roiInfo) on a neuron: the dataset's cache."""
    if n.get("roiInfo") is None:
        return None
    C[2] += 1
    return pr(n)


def _fjload(v, C, fname, want):
    if v is None:
        return None
    if v.__class__ is not str:
        raise CypherError("Failed to invoke function `%s`: Caused by: "
                          "java.lang.ClassCastException: %s is not a String"
                          % (fname, _tn(v)))
    C[2] += 1
    try:
        r = json.loads(v)
    except ValueError as ex:
        raise CypherError("Failed to invoke function `%s`: Caused by: "
                          "java.lang.RuntimeException: Can't convert %s to %s "
                          "with path $ (%s)" % (fname, v[:60], want.__name__, ex))
    if r is not None and r.__class__ is not want:
        raise CypherError("Failed to invoke function `%s`: Caused by: "
                          "java.lang.RuntimeException: Can't convert %s to %s "
                          "with path $" % (fname, v[:60], "Map" if want is dict else "List"))
    return r


def _fjm(v, C):
    return _fjload(v, C, "apoc.convert.fromJsonMap", dict)


def _fjl(v, C):
    return _fjload(v, C, "apoc.convert.fromJsonList", list)


def _seekvals(v):
    """Distinct non-null values of an IN list used for an index seek."""
    if v is None:
        return ()
    if v.__class__ is not list:
        raise CypherError("Type mismatch: expected List<T> but was %s" % _tn(v))
    seen = set()
    out = []
    for x in v:
        if x is None or x.__class__ is list or x.__class__ is dict \
                or x.__class__ is bool or x in seen:
            continue
        seen.add(x)
        out.append(x)
    return out


def _bseek(bi, x):
    if x.__class__ is int or x.__class__ is float:
        n = bi.get(x)
        if n is not None:
            return (n,)
    return ()


def _cp(v):
    """Copy of a value that may hold nodes (the dataset's dicts)."""
    c = v.__class__
    if c is dict:
        return {k: _cp(x) for k, x in v.items()}
    if c is list:
        return [_cp(x) for x in v]
    return v


_BI_LOCK = threading.Lock()
_BI_CACHE = {}


def _body_index(ds):
    """bodyId -> neuron dict: the dataset's own ``by_body`` when it has one,
    else built lazily once per dataset object."""
    bb = getattr(ds, "by_body", None)
    if bb.__class__ is dict:
        return bb
    neurons = ds.neurons
    ent = _BI_CACHE.get(id(ds))
    if ent is not None and ent[0] is ds and ent[1] == len(neurons):
        return ent[2]
    idx = {}
    for n in neurons:
        b = n.get("bodyId")
        if b is not None and b.__class__ is not bool:
            idx.setdefault(b, n)
    with _BI_LOCK:
        if len(_BI_CACHE) >= 8:
            _BI_CACHE.clear()
        _BI_CACHE[id(ds)] = (ds, len(neurons), idx)
    return idx


_HELPERS = {name: obj for name, obj in globals().items()
            if name.startswith("_") and callable(obj) and name in {
                "_tostring", "_tointeger", "_tofloat", "_k", "_ok", "_min",
                "_max", "_eq", "_ne", "_lt", "_gt", "_le", "_ge", "_in",
                "_and", "_or", "_xor", "_not", "_strop", "_add", "_sub",
                "_mul", "_div", "_mod", "_pow", "_neg", "_prop", "_index",
                "_unw", "_keys", "_size", "_lower", "_upper", "_trim",
                "_coalesce", "_props", "_head", "_last", "_fjn", "_fjm", "_fjl",
                "_seekvals", "_bseek", "_cp", "_body_index"}}
_HELPERS["_Done"] = _Done
_HELPERS["_NUMT"] = _NUMT
_HELPERS["__builtins__"] = __builtins__

# --------------------------------------------------------------------------
# compiler: clauses -> Python source of one function

_SIMPLE_RE = re.compile(r"[A-Za-z_][A-Za-z_0-9]*\Z")
_NODE_KINDS = ("neuron", "meta")
_SCALAR_FUNCS = {"keys", "size", "tolower", "toupper", "tostring", "tointeger",
                 "tofloat", "exists", "trim", "count", "sum", "avg", "properties",
                 "apoc.convert.fromjsonmap", "apoc.convert.fromjsonlist"}
_SIMPLE_FUNCS = {"keys": "_keys", "size": "_size", "tolower": "_lower",
                 "toupper": "_upper", "tostring": "_tostring",
                 "tointeger": "_tointeger", "tofloat": "_tofloat",
                 "head": "_head", "last": "_last", "trim": "_trim",
                 "coalesce": "_coalesce", "properties": "_props"}
_BIN = {"+": "_add", "-": "_sub", "*": "_mul", "/": "_div", "%": "_mod",
        "^": "_pow"}
_CMP = {"=": "_eq", "<>": "_ne", "<": "_lt", ">": "_gt", "<=": "_le",
        ">=": "_ge"}


class _Var:
    __slots__ = ("py", "kind")

    def __init__(self, py, kind):
        self.py = py
        self.kind = kind        # neuron | meta | mixed (may hold nodes) | value


class _Compiler:
    label_prefix = None

    def label_kind(self, label):
        """Neuron, Segment, Meta; the dataset-prefixed labels neuPrintHTTP
        writes (`male-cns_Neuron`) for the served dataset; 'nothing' for a
        prefixed label of another dataset (Neo4j matches no node, no error);
        else the label itself (refused by c_match)."""
        if label in ("Neuron", "Segment", "Meta"):
            return label
        head, sep, tail = label.rpartition("_")
        if sep and head and tail in ("Neuron", "Segment", "Meta"):
            return tail if head == self.label_prefix else "nothing"
        return label

    def __init__(self, text, clauses):
        self.text = text
        self.clauses = clauses
        self.consts = {}
        self.pre = []
        self.body = []
        self.n = 0
        self.ind = 2
        self.uses = set()
        self.limit0 = False
        self.hidden = None      # variables hidden by DISTINCT/aggregation
        self.aggmode = False
        self.facts = {}         # py name -> "str" | "dict" when statically known
        self.typeseek = set()   # py names of neurons reached by the type index
        self.loops = []         # (body index, indent) of open loop headers
        self.level = {}         # py name -> number of enclosing loops
        self.unwind_const = None  # const of a leading UNWIND of a literal list

    def loop(self, header):
        self.loops.append((len(self.body), self.ind))
        self.emit(header)
        self.ind += 1

    def bind(self, py, st=None):
        self.level[py] = len(self.loops)
        if st:
            self.facts[py] = st

    def assign(self, py, code, st=None):
        self.emit("%s = %s" % (py, code))
        self.bind(py, st)

    def top(self):
        """Back to the function's top level (after a barrier)."""
        self.ind = 2
        self.loops = []

    def code_level(self, code):
        lv = 0
        for name in re.findall(r"\b_[a-z]\d+\b", code):
            lv = max(lv, self.level.get(name, 0))
        return lv

    def stype(self, e, scope):
        k = e.k
        if k == "var":
            v = scope.get(e.a[0])
            if v is None:
                return None
            if v.kind in _NODE_KINDS:
                return "dict"
            return self.facts.get(v.py)
        if k == "lit" and type(e.a[0]) is str:
            return "str"
        if k == "prop" and e.a[1] == "type" and e.a[0].k == "var":
            v = scope.get(e.a[0].a[0])
            if v is not None and v.py in self.typeseek:
                return "str"
        return None

    def err(self, pos, msg):
        return _err(self.text, pos, msg)

    def tmp(self, p="_t"):
        self.n += 1
        return "%s%d" % (p, self.n)

    def const(self, v):
        name = self.tmp("_c")
        self.consts[name] = v
        return name

    def emit(self, line):
        self.body.append("    " * self.ind + line)

    def hold(self, x):
        if _SIMPLE_RE.match(x):
            return x, x
        t = self.tmp("_t")
        return "(%s := %s)" % (t, x), t

    # ---- clauses
    def compile(self):
        scope = {}
        for cl in self.clauses:
            if cl.kind == "MATCH":
                scope = self.c_match(cl, scope)
            elif cl.kind == "UNWIND":
                scope = self.c_unwind(cl, scope)
            else:
                scope = self.c_project(cl, scope, cl.kind == "RETURN")
        return self.source()

    def source(self):
        L = ["def _run(_ds, _C):"]
        if "neurons" in self.uses:
            L.append("    _neurons = _ds.neurons")
        if "bt" in self.uses:
            L.append("    _bt = _ds.by_type")
        if "meta" in self.uses:
            L.append("    _meta = _ds.meta")
        if "pr" in self.uses:
            L.append("    _pr = _ds.parsed_roi")
        if "bi" in self.uses:
            L.append("    _bi = _body_index(_ds)")
        for name in self.consts:
            L.append("    %s = _G%s" % (name, name))
        L.append("    _sc = 0")
        L.append("    _mc = 0")
        L.append("    _out = []")
        L.extend("    " + x for x in self.pre)
        L.append("    try:")
        if self.limit0:
            L.append("        raise _Done")
        L.extend(self.body)
        L.append("        pass")
        L.append("    except _Done:")
        L.append("        pass")
        L.append("    _C[0] += _sc")
        L.append("    _C[1] += _mc")
        L.append("    return _out")
        return "\n".join(L) + "\n"

    def declare(self, scope, name, pos):
        if name in scope:
            raise self.err(pos, "Variable `%s` already declared" % name)

    def c_unwind(self, cl, scope):
        self.declare(scope, cl.alias, cl.apos)
        X = cl.expr
        py = self.tmp("_v")
        cv = _constval(X) if X.k == "list" else _NOCONST
        st = None
        if cv is not _NOCONST:
            name = self.const(tuple(cv))
            if not scope and not self.loops and self.unwind_const is None:
                self.unwind_const = name        # see _split_plan
            self.loop("for %s in %s:" % (py, name))
            if cv and all(type(x) is str for x in cv):
                st = "str"
        elif X.k == "call" and X.a[0] == "keys":
            arg = X.a[1][0]
            a = self.val(arg, scope)
            f, l = self.hold(a)
            if self.stype(arg, scope) == "dict":
                self.loop("for %s in %s:" % (py, a))
            else:
                self.loop("for %s in (%s if %s.__class__ is dict else "
                          "_unw(_keys(%s))):" % (py, l, f, l))
            if arg.k == "var" and _SIMPLE_RE.match(a):
                self.facts[a] = "dict"      # inside this loop it is a map
            st = "str"
        else:
            self.loop("for %s in _unw(%s):" % (py, self.val(X, scope)))
        self.bind(py, st)
        new = dict(scope)
        new[cl.alias] = _Var(py, "mixed" if self.may_node(X, scope) else "value")
        return new

    def c_match(self, cl, scope):
        scope = dict(scope)
        conj = _split_and(cl.where) if cl.where is not None else []
        pats = []
        names = set()
        for var, vpos, labels, props, ppos in cl.patterns:
            if var is None:
                var = " anon%d" % self.n
                self.n += 1
            else:
                self.declare(scope, var, vpos)
                if var in names:
                    raise self.err(vpos, "Variable `%s` already declared" % var)
            names.add(var)
            if not labels:
                raise self.err(ppos, "Invalid input '(': the emulator needs a "
                               "label on every node pattern: (n:Neuron), "
                               "(n:Segment) or (m:Meta)")
            labs = [self.label_kind(l) for l, _ in labels]
            if "nothing" in labs:
                kind = "nothing"
            elif all(l in ("Neuron", "Segment") for l in labs):
                kind = "neuron"
            elif all(l == "Meta" for l in labs):
                kind = "meta"
            else:
                bad = [(l, p) for l, p in labels
                       if self.label_kind(l) not in ("Neuron", "Segment")]
                if all(self.label_kind(l) == "Meta" for l, _ in bad):
                    bad = labels
                l, p = bad[0]
                raise self.err(p, "Unknown label ':%s': the emulator serves "
                               ":Neuron, :Segment and :Meta nodes, one label "
                               "kind per pattern" % l)
            for key, e, kpos in props:
                conj.append(_E("cmp", ("=", _E("prop", (_E("var", (var,), kpos,
                                                        kpos), key), kpos, kpos),
                                       e), kpos, e.e))
            pats.append((var, kind))
        remaining = list(conj)
        for var, kind in pats:
            py = self.tmp("_v")
            if kind == "nothing":
                self.loop("for %s in ():" % py)   # a label no node carries
                self.bind(py)
            elif kind == "meta":
                self.uses.add("meta")
                self.assign(py, "_meta")
            else:
                seek = self.find_seek(var, remaining, set(scope))
                if seek is None:
                    self.uses.add("neurons")
                    self.loop("for %s in _neurons:" % py)
                    self.bind(py)
                    self.emit("_sc += 1")
                else:
                    c, prop, mode, expr = seek
                    remaining.remove(c)
                    self.emit_seek(py, prop, mode, expr, scope)
            scope[var] = _Var(py, kind)
            ready = [c for c in remaining if _refs(c) <= set(scope)]
            if ready:
                self.emit("if %s:" % " and ".join(self.pred(c, scope) for c in ready))
                self.ind += 1
                remaining = [c for c in remaining if c not in ready]
        if remaining:       # references undefined variables: raises
            self.emit("if %s:" % " and ".join(self.pred(c, scope) for c in remaining))
            self.ind += 1
        return scope

    def find_seek(self, var, conj, bound):
        def is_prop(x, prop):
            return (x.k == "prop" and x.a[1] == prop and x.a[0].k == "var"
                    and x.a[0].a[0] == var)
        for prop in ("bodyId", "type"):
            for c in conj:
                if c.k == "cmp" and c.a[0] == "=":
                    l, r = c.a[1], c.a[2]
                    for a, b in ((l, r), (r, l)):
                        if is_prop(a, prop) and _refs(b) <= bound \
                                and not _has_agg(b):
                            return c, prop, "eq", b
                elif c.k == "in":
                    l, r = c.a
                    if is_prop(l, prop) and _refs(r) <= bound and not _has_agg(r):
                        return c, prop, "in", r
        return None

    def emit_seek(self, py, prop, mode, expr, scope):
        if mode == "in":
            x = self.tmp("_x")
            cv = _constval(expr) if expr.k == "list" else _NOCONST
            if cv is not _NOCONST:
                vals = _seekvals(cv)
                self.loop("for %s in %s:" % (x, self.const(tuple(vals))))
            else:
                self.loop("for %s in _seekvals(%s):" % (x, self.val(expr, scope)))
            self.bind(x)
            X = x
        else:
            X = self.val(expr, scope)
        if prop == "type":
            self.uses.add("bt")
            f, l = self.hold(X)
            self.loop("for %s in (_bt.get(%s, ()) if %s.__class__ is str else ()):"
                      % (py, l, f))
            self.typeseek.add(py)
        else:
            self.uses.add("bi")
            self.loop("for %s in _bseek(_bi, %s):" % (py, X))
        self.bind(py)
        self.emit("_mc += 1")

    # ---- projections
    def kind_of(self, e, scope):
        if e.k == "var" and e.a[0] in scope:
            return scope[e.a[0]].kind
        return "mixed" if self.may_node(e, scope) else "value"

    def may_node(self, e, scope):
        k = e.k
        if k == "var":
            v = scope.get(e.a[0])
            return v is not None and v.kind != "value"
        if k in ("list", "bin"):
            return any(self.may_node(x, scope) for x in e.a if isinstance(x, _E))
        if k == "map":
            return any(self.may_node(x[1], scope) for x in e.a)
        if k == "case":
            return any(self.may_node(x, scope) for x in [t for _, t in e.a[1]] + [e.a[2]]
                       if x is not None)
        if k == "idx":
            return self.may_node(e.a[0], scope)
        if k == "call":
            if e.a[0] in _SCALAR_FUNCS:
                return False
            return any(self.may_node(x, scope) for x in e.a[1])
        return False

    def kexpr(self, py, kind, st=None):
        if kind in _NODE_KINDS:
            return "id(%s)" % py
        if st == "str":
            return py
        return "(%s if %s.__class__ is str else _k(%s))" % (py, py, py)

    def ktuple(self, pys, kinds, sts=None):
        sts = sts or [None] * len(pys)
        if len(pys) == 1:
            return self.kexpr(pys[0], kinds[0], sts[0])
        return "(%s,)" % ", ".join(self.kexpr(p, k, st)
                                    for p, k, st in zip(pys, kinds, sts))

    def outconv(self, x, kind):
        if kind in _NODE_KINDS:
            return "dict(%s)" % x
        if kind == "mixed":
            return "_cp(%s)" % x
        return x

    def const_int(self, e, what):
        if e is None:
            return None
        if _refs(e):
            raise self.err(e.s, "It is not allowed to refer to variables in %s"
                           % what)
        v = _constval(e)
        if v is _NOCONST or type(v) is not int or v < 0:
            raise self.err(e.s, "Invalid input. '%s' is not a valid value. Must "
                           "be a non-negative integer." % self.text[e.s:e.e])
        return v

    def c_project(self, cl, scope, is_ret):
        items = list(cl.items)
        if cl.star:
            names = sorted(n for n in scope if not n.startswith(" "))
            if not names and not items:
                raise self.err(cl.pos, "%s * is not allowed when there are no "
                               "variables in scope" % cl.kind)
            items = [(_E("var", (n,), cl.pos, cl.pos), n, n, cl.pos)
                     for n in names] + items
        cols = []
        exprs = []
        for e, alias, src, pos in items:
            if alias is None:
                if e.k == "var" and not is_ret:
                    alias = e.a[0]
                elif is_ret:
                    alias = src
                else:
                    raise self.err(pos, "Expression in WITH must be aliased "
                                   "(use AS)")
            if alias in cols:
                raise self.err(pos, "Multiple result columns with the same name "
                               "are not supported")
            cols.append(alias)
            exprs.append(e)
        skip_n = self.const_int(cl.skip, "SKIP")
        limit_n = self.const_int(cl.limit, "LIMIT")
        agg = any(_has_agg(e) for e in exprs)
        if is_ret:
            self.columns = cols
        if is_ret and not agg and not cl.order:
            self.ret_stream(exprs, cl.distinct, skip_n, limit_n, scope)
            return None
        if not is_ret and not (agg or cl.distinct or cl.order or skip_n
                               or limit_n is not None):
            return self.with_stream(exprs, cols, cl.where, scope)
        return self.barrier(cl, exprs, cols, scope, is_ret, agg, skip_n, limit_n)

    def ret_stream(self, exprs, distinct, skip_n, limit_n, scope):
        kinds = [self.kind_of(e, scope) for e in exprs]
        sts = [self.stype(e, scope) for e in exprs]
        vals = [self.val(e, scope) for e in exprs]
        if not distinct and not skip_n and limit_n is None:
            self.emit("_out.append([%s])" % ", ".join(
                self.outconv(v, k) for v, k in zip(vals, kinds)))
            return
        temps = []
        for v in vals:
            t = self.tmp("_t")
            self.emit("%s = %s" % (t, v))
            temps.append(t)
        if distinct:
            S = self.tmp("_S")
            self.pre.append("%s = set()" % S)
            D = self.tmp("_t")
            self.emit("%s = %s" % (D, self.ktuple(temps, kinds, sts)))
            self.emit("if %s not in %s:" % (D, S))
            self.ind += 1
            self.emit("%s.add(%s)" % (S, D))
        if skip_n:
            c = self.tmp("_n")
            self.pre.append("%s = 0" % c)
            self.emit("%s += 1" % c)
            self.emit("if %s > %d:" % (c, skip_n))
            self.ind += 1
        if limit_n == 0:
            self.limit0 = True
        self.emit("_out.append([%s])" % ", ".join(
            self.outconv(t, k) for t, k in zip(temps, kinds)))
        if limit_n is not None:
            self.emit("if len(_out) >= %d: raise _Done" % limit_n)

    def with_stream(self, exprs, cols, where, scope):
        new = {}
        pending = []
        for e, alias in zip(exprs, cols):
            if e.k == "var":
                v = scope.get(e.a[0])
                if v is None:
                    self.val(e, scope)      # raises
                new[alias] = v
            else:
                pending.append((e, alias))
        wrefs = _refs(where) if where is not None else set()
        first = [p for p in pending if p[1] in wrefs]
        later = [p for p in pending if p[1] not in wrefs]
        for e, alias in first:
            py = self.tmp("_v")
            self.assign(py, self.val(e, scope), self.stype(e, scope))
            new[alias] = _Var(py, self.kind_of(e, scope))
        if where is not None:
            for e, alias in later:      # names exist for error checking only
                new.setdefault(alias, _Var("None", "value"))
            cond = self.pred(where, new)
            self.emit("if %s:" % cond)
            self.ind += 1
        for e, alias in later:
            py = self.tmp("_v")
            self.assign(py, self.val(e, scope), self.stype(e, scope))
            new[alias] = _Var(py, self.kind_of(e, scope))
        return new

    def barrier(self, cl, exprs, cols, scope, is_ret, agg, skip_n, limit_n):
        n = len(exprs)
        kinds = [self.kind_of(e, scope) for e in exprs]
        sts = [self.stype(e, scope) for e in exprs]
        R = self.tmp("_R")
        order = cl.order
        post_sort = False
        if agg:
            if is_ret and not order and not skip_n and limit_n is None:
                # rows go straight to the output, no intermediate tuples
                self.aggregate(exprs, kinds, sts, scope, "_out", kinds)
                return None
            self.pre.append("%s = []" % R)
            self.aggregate(exprs, kinds, sts, scope, R)
            post_sort = bool(order)
        elif cl.distinct:
            temps = []
            for e in exprs:
                t = self.tmp("_t")
                self.emit("%s = %s" % (t, self.val(e, scope)))
                temps.append(t)
            D = self.tmp("_D")
            self.pre.append("%s = {}" % D)
            K = self.tmp("_t")
            self.emit("%s = %s" % (K, self.ktuple(temps, kinds, sts)))
            self.emit("if %s not in %s: %s[%s] = (%s,)" % (
                K, D, D, K, ", ".join(temps)))
            self.top()
            self.emit("%s = list(%s.values())" % (R, D))
            post_sort = bool(order)
        else:
            self.pre.append("%s = []" % R)
            temps = []
            for e in exprs:
                t = self.tmp("_t")
                self.emit("%s = %s" % (t, self.val(e, scope)))
                temps.append(t)
            svals = []
            if order:
                scope2 = dict(scope)
                emap = {}
                for e, alias, t, kind in zip(exprs, cols, temps, kinds):
                    scope2[alias] = _Var(t, kind)
                    emap[_skey(e)] = t
                svals = [self.val(oe, scope2, emap) for oe, _ in order]
            self.emit("%s.append((%s,))" % (R, ", ".join(temps + svals)))
            self.top()
        if post_sort:
            ps = {}
            emap = {}
            pys = []
            for e, alias, kind in zip(exprs, cols, kinds):
                py = self.tmp("_v")
                pys.append(py)
                ps[alias] = _Var(py, kind)
                emap[_skey(e)] = py
            R2 = self.tmp("_R")
            row = self.tmp("_t")
            self.emit("%s = []" % R2)
            self.emit("for %s in %s:" % (row, R))
            self.ind += 1
            self.emit("(%s,) = %s" % (", ".join(pys), row))
            self.hidden = set(scope)
            try:
                svals = [self.val(oe, ps, emap) for oe, _ in order]
            finally:
                self.hidden = None
            self.emit("%s.append(%s + (%s,))" % (R2, row, ", ".join(svals)))
            self.ind = 2
            R = R2
        if order:
            for j in reversed(range(len(order))):
                self.emit("%s.sort(key=lambda r: _ok(r[%d])%s)" % (
                    R, n + j, ", reverse=True" if order[j][1] else ""))
            self.emit("%s = [r[:%d] for r in %s]" % (R, n, R))
        if skip_n or limit_n is not None:
            s = skip_n or 0
            self.emit("%s = %s[%d:%s]" % (
                R, R, s, "" if limit_n is None else str(s + limit_n)))
        if is_ret:
            convs = [self.outconv("r[%d]" % i, k) for i, k in enumerate(kinds)]
            if all(k not in _NODE_KINDS and k != "mixed" for k in kinds):
                self.emit("_out = [list(r) for r in %s]" % R)
            else:
                self.emit("_out = [[%s] for r in %s]" % (", ".join(convs), R))
            return None
        pys = [self.tmp("_v") for _ in exprs]
        self.loop("for (%s,) in %s:" % (", ".join(pys), R))
        for py, st in zip(pys, sts):
            self.bind(py, st)
        new = {alias: _Var(py, kind) for alias, py, kind in zip(cols, pys, kinds)}
        if cl.where is not None:
            self.emit("if %s:" % self.pred(cl.where, new))
            self.ind += 1
        return new

    def aggregate(self, exprs, kinds, sts, scope, R, outkinds=None):
        keyidx = [i for i, e in enumerate(exprs) if not _has_agg(e)]
        calls = OrderedDict()
        for i, e in enumerate(exprs):
            if i in keyidx:
                continue
            for x in _walk(e):
                if _is_agg(x):
                    if x.k == "call" and any(_has_agg(a) for a in x.a[1]):
                        raise self.err(x.s, "Can't use aggregate functions "
                                       "inside of aggregate functions.")
                    calls.setdefault(_skey(x), x)
        nk = len(keyidx)
        G = self.tmp("_G")
        g = self.tmp("_g")
        slot = nk
        inits = []
        plan = []       # (call, fn, distinct, first slot)
        for x in calls.values():
            if x.k == "countstar":
                fn, distinct = "countstar", False
            else:
                fn, distinct = x.a[0], x.a[2]
            s = slot
            if fn in ("countstar", "count"):
                inits.append("set()" if distinct else "0")
            elif fn == "sum":
                inits += (["set()"] if distinct else []) + ["0"]
            elif fn == "avg":
                inits += (["set()"] if distinct else []) + ["0", "0"]
            elif fn in ("min", "max"):
                inits.append("None")
            else:   # collect
                inits += (["set()"] if distinct else []) + ["[]"]
            slot = nk + len(inits)
            plan.append((x, fn, distinct, s))
        # per-row accumulation: find the group.  Grouping keys computable
        # outside the innermost loop are hoisted there (two-level grouping);
        # groups keep their first-seen order.
        kcodes = [self.val(exprs[i], scope) for i in keyidx]
        kkinds = [kinds[i] for i in keyidx]
        ksts = [sts[i] for i in keyidx]
        nloops = len(self.loops)
        levels = [self.code_level(c) for c in kcodes]
        outer = [j for j in range(nk) if levels[j] < nloops]
        inner = [j for j in range(nk) if levels[j] >= nloops]
        src = "%s.values()" % G

        def named(c, out):
            if _SIMPLE_RE.match(c):
                return c
            t = self.tmp("_t")
            out.append("%s = %s" % (t, c))
            return t

        if not nk:
            self.pre.append("%s = [%s]" % (G, ", ".join(inits)))
            self.emit("%s = %s" % (g, G))
        elif not outer:
            self.pre.append("%s = {}" % G)
            lines = []
            kt = [named(c, lines) for c in kcodes]
            for x in lines:
                self.emit(x)
            gk = self.tmp("_t")
            self.emit("%s = %s" % (gk, self.ktuple(kt, kkinds, ksts)))
            self.emit("%s = %s.get(%s)" % (g, G, gk))
            self.emit("if %s is None:" % g)
            self.emit("    %s = %s[%s] = [%s]" % (g, G, gk, ", ".join(kt + inits)))
        else:
            self.pre.append("%s = {}" % G)
            hidx, hind = self.loops[max(levels[j] for j in outer)]
            ins = []
            names = {}
            for j in outer:
                names[j] = named(kcodes[j], ins)
            ok = self.tmp("_t")
            sub = self.tmp("_g")
            ins.append("%s = %s" % (ok, self.ktuple(
                [names[j] for j in outer], [kkinds[j] for j in outer],
                [ksts[j] for j in outer])))
            ins.append("%s = None" % sub)
            self.body[hidx:hidx] = ["    " * hind + x for x in ins]
            if not inner:
                allk = ", ".join([names[j] for j in range(nk)] + inits)
                self.emit("if %s is None:" % sub)
                self.emit("    %s = %s.get(%s)" % (sub, G, ok))
                self.emit("    if %s is None: %s = %s[%s] = [%s]" % (
                    sub, sub, G, ok, allk))
                g = sub
            else:
                lines = []
                for j in inner:
                    names[j] = named(kcodes[j], lines)
                for x in lines:
                    self.emit(x)
                order = self.tmp("_R")
                self.pre.append("%s = []" % order)
                src = order
                self.emit("if %s is None:" % sub)
                self.emit("    %s = %s.get(%s)" % (sub, G, ok))
                self.emit("    if %s is None: %s = %s[%s] = {}" % (sub, sub, G, ok))
                ik = self.tmp("_t")
                self.emit("%s = %s" % (ik, self.ktuple(
                    [names[j] for j in inner], [kkinds[j] for j in inner],
                    [ksts[j] for j in inner])))
                self.emit("%s = %s.get(%s)" % (g, sub, ik))
                self.emit("if %s is None:" % g)
                self.emit("    %s = %s[%s] = [%s]" % (g, sub, ik, ", ".join(
                    [names[j] for j in range(nk)] + inits)))
                self.emit("    %s.append(%s)" % (order, g))
        for x, fn, distinct, s in plan:
            if fn == "countstar":
                self.emit("%s[%d] += 1" % (g, s))
                continue
            arg = x.a[1][0]
            akind = self.kind_of(arg, scope)
            v = self.tmp("_t")
            self.emit("%s = %s" % (v, self.val(arg, scope)))
            if fn == "count" and not distinct and akind in _NODE_KINDS:
                self.emit("%s[%d] += 1" % (g, s))
                continue
            self.emit("if %s is not None:" % v)
            self.ind += 1
            if distinct:
                kk = self.tmp("_t")
                self.emit("%s = %s" % (kk, self.kexpr(v, akind)))
                if fn == "count":
                    self.emit("%s[%d].add(%s)" % (g, s, kk))
                    self.ind -= 1
                    continue
                if fn not in ("min", "max"):
                    self.emit("if %s not in %s[%d]:" % (kk, g, s))
                    self.ind += 1
                    self.emit("%s[%d].add(%s)" % (g, s, kk))
                    s += 1
            if fn == "count":
                self.emit("%s[%d] += 1" % (g, s))
            elif fn == "sum":
                self.emit("%s[%d] += %s" % (g, s, v))
            elif fn == "avg":
                self.emit("%s[%d] += %s" % (g, s, v))
                self.emit("%s[%d] += 1" % (g, s + 1))
            elif fn in ("min", "max"):
                self.emit("%s[%d] = _%s(%s[%d], %s)" % (g, s, fn, g, s, v))
            else:
                self.emit("%s[%d].append(%s)" % (g, s, v))
            self.ind -= 1
            if distinct and fn not in ("min", "max"):
                self.ind -= 1
        # finalisation
        self.top()
        gv = self.tmp("_g")
        emap = {}
        for x, fn, distinct, s in plan:
            if fn == "count" and distinct:
                fin = "len(%s[%d])" % (gv, s)
            elif fn == "avg":
                a = s + 1 if distinct else s
                fin = "(%s[%d] / %s[%d] if %s[%d] else None)" % (
                    gv, a, gv, a + 1, gv, a + 1)
            elif distinct and fn in ("sum", "collect"):
                fin = "%s[%d]" % (gv, s + 1)
            else:
                fin = "%s[%d]" % (gv, s)
            emap[_skey(x)] = fin
        for j, i in enumerate(keyidx):
            emap.setdefault(_skey(exprs[i]), "%s[%d]" % (gv, j))
        if nk:
            self.emit("for %s in %s:" % (gv, src))
            self.ind += 1
        else:
            self.emit("%s = %s" % (gv, G))
        vals = []
        self.aggmode = True
        try:
            for i, e in enumerate(exprs):
                if i in keyidx:
                    vals.append("%s[%d]" % (gv, keyidx.index(i)))
                else:
                    vals.append(self.val(e, {}, emap))
        finally:
            self.aggmode = False
        if outkinds is None:
            self.emit("%s.append((%s,))" % (R, ", ".join(vals)))
        else:
            self.emit("%s.append([%s])" % (R, ", ".join(
                self.outconv(v, k) for v, k in zip(vals, outkinds))))
        self.top()

    # ---- expressions
    def lookup(self, e, scope):
        name = e.a[0]
        v = scope.get(name)
        if v is None:
            if self.aggmode:
                raise self.err(e.s, "Aggregation column contains implicit "
                               "grouping expressions: `%s` is neither a "
                               "grouping key nor inside an aggregating "
                               "function" % name)
            if self.hidden and name in self.hidden:
                raise self.err(e.s, "In a WITH/RETURN with DISTINCT or an "
                               "aggregation, it is not possible to access "
                               "variables declared before the WITH/RETURN: %s"
                               % name)
            raise self.err(e.s, "Variable `%s` not defined" % name)
        return v

    def val(self, e, scope, emap=None):
        if emap:
            r = emap.get(_skey(e))
            if r is not None:
                return r
        return getattr(self, "v_" + e.k)(e, scope, emap)

    def v_lit(self, e, scope, emap):
        v = e.a[0]
        if v is None or v is True or v is False:
            return repr(v)
        if type(v) is int:
            return "(%d)" % v
        if type(v) is float:
            if math.isfinite(v):
                return "(%r)" % v
            return self.const(v)
        # strings are bound as constants so that queries differing only in
        # string values generate the same source (see _CODE_CACHE)
        return self.const(v)

    def v_list(self, e, scope, emap):
        cv = _constval(e)
        if cv is not _NOCONST and not any(type(x) is list for x in cv):
            return "list(%s)" % self.const(tuple(cv))
        return "[%s]" % ", ".join(self.val(x, scope, emap) for x in e.a)

    def v_map(self, e, scope, emap):
        return "{%s}" % ", ".join("%r: %s" % (k, self.val(x, scope, emap))
                                  for k, x, _ in e.a)

    def v_var(self, e, scope, emap):
        return self.lookup(e, scope).py

    def v_prop(self, e, scope, emap):
        base, key = e.a
        if base.k == "var" and not (emap and _skey(base) in emap):
            v = self.lookup(base, scope)
            if v.kind in _NODE_KINDS or self.facts.get(v.py) == "dict":
                return "%s.get(%r)" % (v.py, key)
        f, l = self.hold(self.val(base, scope, emap))
        return "(%s.get(%r) if %s.__class__ is dict else _prop(%s, %r))" % (
            l, key, f, l, key)

    def v_idx(self, e, scope, emap):
        b = self.val(e.a[0], scope, emap)
        i = self.val(e.a[1], scope, emap)
        if (_SIMPLE_RE.match(b) and self.stype(e.a[0], scope) == "dict"
                and self.stype(e.a[1], scope) == "str"):
            return "%s.get(%s)" % (b, i)
        if _SIMPLE_RE.match(i) or e.a[1].k == "lit":
            f, l = self.hold(b)
            return ("(%s.get(%s) if %s.__class__ is dict and %s.__class__ is str "
                    "else _index(%s, %s))" % (l, i, f, i, l, i))
        return "_index(%s, %s)" % (b, i)

    def v_countstar(self, e, scope, emap):
        raise self.err(e.s, "Invalid use of aggregating function count(...) in "
                       "this context")

    def v_call(self, e, scope, emap):
        fn, args, distinct, name = e.a
        if fn in _AGG:
            raise self.err(e.s, "Invalid use of aggregating function %s(...) in "
                           "this context" % name)
        if fn == "apoc.convert.fromjsonmap":
            a = args[0]
            if (a.k == "prop" and a.a[1] == "roiInfo" and a.a[0].k == "var"
                    and not (emap and _skey(a) in emap)):
                v = self.lookup(a.a[0], scope)
                if v.kind == "neuron":
                    self.uses.add("pr")
                    return "_fjn(%s, _C, _pr)" % v.py
            return "_fjm(%s, _C)" % self.val(a, scope, emap)
        if fn == "apoc.convert.fromjsonlist":
            return "_fjl(%s, _C)" % self.val(args[0], scope, emap)
        if fn == "exists":
            return "(%s is not None)" % self.val(args[0], scope, emap)
        return "%s(%s)" % (_SIMPLE_FUNCS[fn], ", ".join(
            self.val(a, scope, emap) for a in args))

    def v_not(self, e, scope, emap):
        return "_not(%s)" % self.val(e.a[0], scope, emap)

    def v_and(self, e, scope, emap):
        return "_and(%s, %s)" % (self.val(e.a[0], scope, emap),
                                 self.val(e.a[1], scope, emap))

    def v_or(self, e, scope, emap):
        return "_or(%s, %s)" % (self.val(e.a[0], scope, emap),
                                self.val(e.a[1], scope, emap))

    def v_xor(self, e, scope, emap):
        return "_xor(%s, %s)" % (self.val(e.a[0], scope, emap),
                                 self.val(e.a[1], scope, emap))

    @staticmethod
    def strlit_side(e):
        op, a, b = e.a
        if b.k == "lit" and type(b.a[0]) is str:
            return a, b.a[0]
        if a.k == "lit" and type(a.a[0]) is str:
            return b, a.a[0]
        return None, None

    def v_cmp(self, e, scope, emap):
        op, a, b = e.a
        if op in ("=", "<>"):
            other, lit = self.strlit_side(e)
            if other is not None:
                f, l = self.hold(self.val(other, scope, emap))
                return "(None if %s is None else %s %s %s)" % (
                    f, l, "==" if op == "=" else "!=", self.const(lit))
        return "%s(%s, %s)" % (_CMP[op], self.val(a, scope, emap),
                               self.val(b, scope, emap))

    def v_isnull(self, e, scope, emap):
        x, neg = e.a
        return "(%s is %sNone)" % (self.val(x, scope, emap), "not " if neg else "")

    def const_in(self, e, scope):
        """frozenset and class test for `x IN [literals]`, or None."""
        x, L = e.a
        if L.k != "list":
            return None
        cv = _constval(L)
        if cv is _NOCONST or not cv or any(v is None for v in cv):
            return None
        if all(type(v) is str for v in cv):
            if self.stype(x, scope) == "str":
                return self.const(frozenset(cv)), "True"
            return self.const(frozenset(cv)), "%s.__class__ is str"
        if all(type(v) in (int, float) and v == v for v in cv):
            return self.const(frozenset(cv)), "%s.__class__ in _NUMT"
        return None

    def v_in(self, e, scope, emap):
        c = self.const_in(e, scope)
        if c is not None:
            S, test = c
            f, l = self.hold(self.val(e.a[0], scope, emap))
            if test == "True":
                return "(%s in %s)" % (f, S)
            return "(None if %s is None else (%s and %s in %s))" % (
                f, test % l, l, S)
        return "_in(%s, %s)" % (self.val(e.a[0], scope, emap),
                                self.val(e.a[1], scope, emap))

    def v_strop(self, e, scope, emap):
        op, a, b = e.a
        return "_strop(%r, %s, %s)" % (op, self.val(a, scope, emap),
                                       self.val(b, scope, emap))

    def v_bin(self, e, scope, emap):
        op, a, b = e.a
        return "%s(%s, %s)" % (_BIN[op], self.val(a, scope, emap),
                               self.val(b, scope, emap))

    def v_case(self, e, scope, emap):
        """Nested conditional expressions: only the chosen branch runs, and a
        WHEN that is null or false falls through, as in Cypher."""
        subject, pairs, other = e.a
        out = "None" if other is None else self.val(other, scope, emap)
        if subject is None:
            conds = [self.pred(w, scope, emap) for w, _ in pairs]
        else:
            f, l = self.hold(self.val(subject, scope, emap))
            conds = ["(_eq(%s, %s) is True)" % (f if i == 0 else l, self.val(w, scope, emap))
                     for i, (w, _) in enumerate(pairs)]
        for c, (_, then) in reversed(list(zip(conds, pairs))):
            out = "(%s if %s else %s)" % (self.val(then, scope, emap), c, out)
        return out

    def v_neg(self, e, scope, emap):
        return "_neg(%s)" % self.val(e.a[0], scope, emap)

    def pred(self, e, scope, emap=None):
        """Python expression that is truthy iff the Cypher value is true."""
        if emap and _skey(e) in emap:
            return "(%s is True)" % emap[_skey(e)]
        k = e.k
        if k == "and":
            return "(%s and %s)" % (self.pred(e.a[0], scope, emap),
                                    self.pred(e.a[1], scope, emap))
        if k == "or":
            return "(%s or %s)" % (self.pred(e.a[0], scope, emap),
                                   self.pred(e.a[1], scope, emap))
        if k == "not":
            x = e.a[0]
            if x.k == "isnull":
                return self.v_isnull(_E("isnull", (x.a[0], not x.a[1]), x.s, x.e),
                                     scope, emap)
            return "(%s is False)" % self.val(x, scope, emap)
        if k == "isnull":
            return self.v_isnull(e, scope, emap)
        if k == "lit":
            return "True" if e.a[0] is True else "False"
        if k == "cmp" and e.a[0] in ("=", "<>"):
            other, lit = self.strlit_side(e)
            if other is not None:
                if e.a[0] == "=":
                    return "(%s == %s)" % (self.val(other, scope, emap),
                                           self.const(lit))
                f, l = self.hold(self.val(other, scope, emap))
                return "(%s is not None and %s != %s)" % (f, l, self.const(lit))
        if k == "in":
            c = self.const_in(e, scope)
            if c is not None:
                S, test = c
                f, l = self.hold(self.val(e.a[0], scope, emap))
                if test == "True":
                    return "(%s in %s)" % (f, S)
                return "(%s and %s in %s)" % (test % f, l, S)
        return "(%s is True)" % self.val(e, scope, emap)


# --------------------------------------------------------------------------
# compile cache and entry points

class _Compiled:
    __slots__ = ("fn", "columns", "source", "code", "ns", "split", "memo_key")

    def __init__(self, fn, columns, source, code=None, ns=None, split=None, memo_key=None):
        self.fn = fn
        self.columns = columns
        self.source = source
        self.code = code
        self.ns = ns
        self.split = split          # global name of the UNWIND list, see _split_plan
        self.memo_key = memo_key


_CACHE = OrderedDict()          # query text -> _Compiled
_CODE_CACHE = OrderedDict()     # generated source -> code object
_CACHE_LOCK = threading.Lock()
_CACHE_MAX = 512


def _elem_key(e, tvar, nodes):
    """Is expression E's value fixed by the UNWIND element alone: the
    variable TVAR, or `n.type` of a node NODES names (matched by the type
    index on n.type = TVAR)?"""
    if e.k == "var":
        return e.a[0] == tvar
    return (e.k == "prop" and e.a[1] == "type" and e.a[0].k == "var"
            and e.a[0].a[0] in nodes)


def _is_type_seek(cond, n, t):
    if cond is None or cond.k != "cmp" or cond.a[0] != "=":
        return False
    a, b = cond.a[1], cond.a[2]
    for x, y in ((a, b), (b, a)):
        if (x.k == "prop" and x.a[1] == "type" and x.a[0].k == "var" and x.a[0].a[0] == n
                and y.k == "var" and y.a[0] == t):
            return True
    return False


def _split_plan(clauses, comp):
    """Whether the query's answer for `UNWIND [t1, t2, ...]` is the answer
    for [t1], then for [t2], ... concatenated, so that each part can be
    computed once and memoized (execute's memo). Only a plain shape is
    accepted, checked on the clauses:
      UNWIND <distinct string literals> AS t
      MATCH (n:Neuron) WHERE n.type = t
      then UNWINDs and WITHs that only map or filter rows (no aggregate,
      DISTINCT, ORDER BY, SKIP, LIMIT, *),
      RETURN with an aggregate and a grouping key fixed by t (t itself, or
      n.type, or a name a WITH gave one of those); no DISTINCT, ORDER BY,
      SKIP, LIMIT, *.
    Then every group holds the rows of one t (n.type = t, and distinct
    strings never share a group), groups are emitted in the order first
    seen, which is t's order, and the cost counters add up per t."""
    if comp.unwind_const is None or len(clauses) < 3:
        return False
    u, m, last = clauses[0], clauses[1], clauses[-1]
    vals = comp.consts.get(comp.unwind_const)
    if (u.kind != "UNWIND" or not vals or any(type(x) is not str for x in vals)
            or len(set(vals)) != len(vals)):
        return False
    if m.kind != "MATCH" or len(m.patterns) != 1:
        return False
    var, _, labels, props, _ = m.patterns[0]
    if var is None or props or len(labels) != 1 \
            or comp.label_kind(labels[0][0]) not in ("Neuron", "Segment"):
        return False
    if not _is_type_seek(m.where, var, u.alias):
        return False
    tnames, nodes = {u.alias}, {var}
    for cl in clauses[2:]:
        if cl.kind == "UNWIND":
            continue
        if cl.kind == "MATCH":
            return False
        if cl.distinct or cl.star or cl.order or cl.skip is not None or cl.limit is not None:
            return False
        if cl.kind == "RETURN":
            break
        if any(_has_agg(e) for e, _, _, _ in cl.items) or (
                cl.where is not None and _has_agg(cl.where)):
            return False
        nt, nn = set(), set()
        for e, alias, _, _ in cl.items:
            name = alias if alias is not None else (e.a[0] if e.k == "var" else None)
            if name is None:
                continue
            if e.k == "var" and e.a[0] in nodes:
                nn.add(name)
            elif _elem_key(e, None, nodes) or (e.k == "var" and e.a[0] in tnames):
                nt.add(name)
        tnames, nodes = nt, nn
    if last.kind != "RETURN":
        return False
    aggs = [e for e, _, _, _ in last.items if _has_agg(e)]
    keys = [e for e, _, _, _ in last.items if not _has_agg(e)]
    if not aggs:
        return False
    return any(_elem_key(e, None, nodes) or (e.k == "var" and e.a[0] in tnames)
               for e in keys)


def _hashable(v):
    c = v.__class__
    if c is tuple or c is list:
        return (c.__name__,) + tuple(_hashable(x) for x in v)
    if c is set or c is frozenset:
        return ("set", frozenset(_hashable(x) for x in v))
    if c is dict:
        return ("dict",) + tuple(sorted((k, _hashable(x)) for k, x in v.items()))
    if c is float:
        return ("f", repr(v))
    if c is bool:
        return ("b", v)
    hash(v)
    return (c.__name__, v)


def _compile(text, label_prefix=None):
    try:
        clauses = _Parser(text).parse()
        comp = _Compiler(text, clauses)
        comp.label_prefix = label_prefix
        src = comp.compile()
    except RecursionError:
        raise CypherError("Query is too deeply nested for the emulator") from None
    ns = dict(_HELPERS)
    for name, v in comp.consts.items():
        ns["_G" + name] = v
    with _CACHE_LOCK:
        code = _CODE_CACHE.get(src)
        if code is not None:
            _CODE_CACHE.move_to_end(src)
    if code is None:
        try:
            code = compile(src, "<cypher>", "exec")
        except (SyntaxError, RecursionError, MemoryError) as ex:
            raise CypherError("Query is too complex for the emulator (%s)"
                              % ex.__class__.__name__) from None
        with _CACHE_LOCK:
            _CODE_CACHE[src] = code
            while len(_CODE_CACHE) > _CACHE_MAX:
                _CODE_CACHE.popitem(last=False)
    exec(code, ns)
    split = memo_key = None
    if _split_plan(clauses, comp):
        try:
            memo_key = (label_prefix, src, tuple(sorted(
                (k, _hashable(v)) for k, v in comp.consts.items() if k != comp.unwind_const)))
            split = "_G" + comp.unwind_const
        except TypeError:
            split = memo_key = None
    return _Compiled(ns["_run"], comp.columns, src, code, ns, split, memo_key)


def _get(text, label_prefix=None):
    key = (label_prefix, text)
    with _CACHE_LOCK:
        q = _CACHE.get(key)
        if q is not None:
            _CACHE.move_to_end(key)
            return q
    q = _compile(text, label_prefix)
    with _CACHE_LOCK:
        _CACHE[key] = q
        while len(_CACHE) > _CACHE_MAX:
            _CACHE.popitem(last=False)
    return q


class Memo:
    """Answers of one UNWIND element of the queries _split_plan accepts,
    for one dataset that does not change while it is served (the server's).
    Bounded by the rows it holds: the least recently used go first."""

    def __init__(self, max_rows=2_000_000):
        self.max_rows = max_rows
        self.rows = 0
        self.hits = 0
        self.misses = 0
        self._d = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            v = self._d.get(key)
            if v is None:
                self.misses += 1
                return None
            self._d.move_to_end(key)
            self.hits += 1
            return v

    def put(self, key, v):
        n = len(v[0])
        if n > self.max_rows:
            return
        with self._lock:
            old = self._d.pop(key, None)
            if old is not None:
                self.rows -= len(old[0])
            self._d[key] = v
            self.rows += n
            while self.rows > self.max_rows:
                _, ev = self._d.popitem(last=False)
                self.rows -= len(ev[0])


def _run_split(q, dataset, C, memo):
    """q's answer as the concatenation of its answers for each UNWIND
    element, each taken from MEMO or computed (by the same code, with a
    one-element list) and put there."""
    ns = None
    run = None
    out = []
    bt = dataset.by_type
    for t in q.ns[q.split]:
        if t not in bt:
            continue        # the MATCH on the type index finds nothing: no rows, no cost
        key = (q.memo_key, t)
        hit = memo.get(key)
        if hit is None:
            if ns is None:
                ns = dict(q.ns)         # q.ns is shared by every thread
                exec(q.code, ns)
                run = ns["_run"]
            ns[q.split] = (t,)
            c = [0, 0, 0]
            rows = run(dataset, c)
            hit = (rows, c[0], c[1], c[2])
            memo.put(key, hit)
        out.extend(hit[0])
        C[0] += hit[1]
        C[1] += hit[2]
        C[2] += hit[3]
    return out


def execute(dataset, text, label_prefix=None, memo=None):
    """Run one query of the subset against ``dataset``; raise CypherError.

    label_prefix: the dataset name whose prefixed labels (`<prefix>_Neuron`,
    `_Segment`, `_Meta`, as neuPrintHTTP rewrites them) name this dataset's
    nodes; other prefixed labels match nothing.

    memo: a Memo, only for a dataset that never changes: the answers of
    batched per-type queries (_split_plan) are then computed per type once
    and reused, whatever batch a type comes in. The answer and the cost
    counters are the same as without it.

    The cyclic garbage collector is paused while the query runs: queries
    allocate many small containers, and every collection would otherwise walk
    the whole dataset (millions of objects) -- that alone doubled the time of
    the ROIS query.  Reference counting still frees everything at once."""
    if not isinstance(text, str):
        raise CypherError("Invalid input: the cypher member must be a string")
    C = [0, 0, 0]
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        q = _get(text, label_prefix)
        if memo is not None and q.split is not None:
            rows = _run_split(q, dataset, C, memo)
        else:
            rows = q.fn(dataset, C)
    except CypherError:
        raise
    except RecursionError:
        raise CypherError("Value too deeply nested") from None
    except (TypeError, ValueError, ZeroDivisionError, OverflowError) as ex:
        raise CypherError("Type mismatch: %s" % ex) from None
    finally:
        if paused:
            gc.enable()
    return Result(list(q.columns), rows, Cost(C[0], C[1], C[2], len(rows)))


_LIST_AFTER = {"IN", "UNWIND", "RETURN", "WITH", "AND", "OR", "XOR", "NOT",
               "WHERE", "DISTINCT", "BY", "SKIP", "LIMIT", "CONTAINS", "WHEN",
               "THEN", "ELSE", "CASE", "IS"}


_SHAPES = OrderedDict()         # query text -> shape_of(text)


def shape_of(text):
    """The query with every literal replaced by ? and every list literal by
    [?], whitespace (and comments) collapsed: a key for per-shape stats.
    Cached by text, as compiled queries are (a job repeats its queries)."""
    if text.__class__ is not str:
        return _shape_of(text)
    with _CACHE_LOCK:
        s = _SHAPES.get(text)
        if s is not None:
            _SHAPES.move_to_end(text)
            return s
    s = _shape_of(text)
    with _CACHE_LOCK:
        _SHAPES[text] = s
        while len(_SHAPES) > _CACHE_MAX:
            _SHAPES.popitem(last=False)
    return s


def _shape_of(text):
    try:
        toks = _tokenize(text)
    except CypherError:
        return " ".join(str(text).split())
    out = []
    prev_end = None
    prev = None
    i = 0
    n = len(toks) - 1
    while i < n:
        t = toks[i]
        if prev_end is not None and t.pos > prev_end:
            out.append(" ")
        is_list = (t.kind == "op" and t.val == "[" and (
            prev is None
            or (prev.kind == "op" and prev.val not in (")", "]", "}"))
            or (prev.kind == "id" and prev.up in _LIST_AFTER)))
        if is_list:
            depth = 0
            j = i
            while j < n:
                tj = toks[j]
                if tj.kind == "op" and tj.val == "[":
                    depth += 1
                elif tj.kind == "op" and tj.val == "]":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            out.append("[?]")
            prev = toks[min(j, n - 1)]
            prev_end = prev.end
            i = j + 1
            continue
        if t.kind in ("str", "num") or (t.kind == "id" and t.up in (
                "TRUE", "FALSE", "NULL") and not (
                    t.up == "NULL" and prev is not None and prev.kind == "id"
                    and prev.up in ("IS", "NOT"))):
            out.append("?")
        else:
            out.append(text[t.pos:t.end])
        prev = t
        prev_end = t.end
        i += 1
    return "".join(out).strip()
