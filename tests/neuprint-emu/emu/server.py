"""HTTPS front of the emulator: routes, authentication, cost model, faults,
loopback-only admin routes. See README.md for every route and number.

make_server(app, host, port, tls_files) -> EmuHTTPServer
App(dataset, cypher_module, dataset_name, token, config, faults, seed)
"""

import ipaddress
import json
import socket
import ssl
import struct
import sys
import threading
import time
import traceback
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from email.utils import formatdate

from . import faults as faults_mod
from . import tls as tls_mod

VERSION = "1.9.2"                  # the default --server-version
VERSIONS = ("1.9.2", "1.7.2")
AUTHS = ("dsg", "v17")
GO_CHUNK_AFTER = 2048      # net/http bufferBeforeChunkingSize: larger bodies go chunked
JSON_CT = "application/json; charset=UTF-8"
HTML_CT = "text/html; charset=utf-8"
CHUNK = 16384               # bytes per paced write
BURST = 65536               # bytes the bandwidth bucket may hold
IDLE_TIMEOUT = 300          # keep-alive connection idle limit (s)
HANDSHAKE_TIMEOUT = 20      # TLS handshake limit (s)
MAX_BODY = 64 << 20

ROUTES = {
    "/api/dbmeta/datasets": "GET",
    "/api/version": "GET",
    "/api/serverinfo": "GET",
    "/api/available": "GET",
    "/api/custom/custom": "POST",
}
ADMIN_ROUTES = {
    "/emu/stats": ("GET",),
    "/emu/stats/reset": ("POST",),
    "/emu/config": ("GET", "POST"),
    "/emu/queries": ("GET", "POST"),
}

# neuPrintHTTP 1.9.2 (storage/neuprintbolt): every database error is
# fmt.Errorf("failed to execute query: %w", err), err being the Go driver's
# "Neo4jError: <code> (<message>)"; any error whose text holds "Timeout" is
# replaced by TIMEOUT_EXPERIENCED first.
EXEC_FAILED = "failed to execute query: "
TIMEOUT_EXPERIENCED = ("Timeout experienced. This could be due to database traffic or to "
                       "non-optimal database queries. If the latter, please consult neuPrint "
                       "documentation or post a question at "
                       "https://groups.google.com/forum/#!forum/neuprint to understand other "
                       "options.")
TIMEOUT_19 = ("Neo4jError: Neo.ClientError.Transaction.TransactionTimedOut (The transaction "
              "has been terminated. Retry your operation in a new transaction, and you should "
              "see a successful result. The transaction has not completed within the "
              "specified timeout (db.transaction.timeout). You may want to retry with a "
              "longer timeout. )")
# ExecuteQuery retries transient errors for 30 s (MaxTransactionRetryTime),
# then gives up with TransactionExecutionLimit wrapping the last one.
TRANSIENT_19 = ("TransactionExecutionLimit: timeout (exceeded max retry time: 30s) after %d "
                "attempts, last error: Neo4jError: "
                "Neo.TransientError.General.MemoryPoolOutOfMemoryError (The allocation of an "
                "extra 2.0 MiB would use more than the limit 8.0 GiB. Currently using 8.0 GiB. "
                "dbms.memory.transaction.total.max threshold reached)")
TRANSIENT_17 = ("Neo.TransientError.General.MemoryPoolOutOfMemoryError: The allocation of an "
                "extra 2.0 MiB would use more than the limit 8.0 GiB. Currently using 8.0 GiB. "
                "dbms.memory.transaction.total.max threshold reached")
# the Go driver's pool wait: "Timeout while waiting for connection to any of
# [...]: context deadline exceeded" -> holds "Timeout" -> replaced
POOL_17 = "Timeout while waiting for connection to any of [[localhost:7687]]: context deadline exceeded"
TOS_URL = "https://dsg.neuprint-emu.invalid/tos/%s"

TIMEOUT_MSG = ("Neo.ClientError.Transaction.TransactionTimedOut: transaction timed out: "
               "The transaction has not completed within the specified timeout "
               "(dbms.transaction.timeout). You may want to retry with a longer timeout.")


# --------------------------------------------------------------------------
# configuration changeable at run time (POST /emu/config)
# --------------------------------------------------------------------------

def _num(lo=None, hi=None, integer=False):
    def conv(v):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError("a number is needed")
        if integer:
            if v != int(v):
                raise ValueError("an integer is needed")
            v = int(v)
        else:
            v = float(v)
        if v != v or (lo is not None and v < lo) or (hi is not None and v > hi):
            raise ValueError("out of range")
        return v
    return conv


def _kinds(v):
    return faults_mod.parse_kinds(v)


def _names(v):
    if isinstance(v, str):
        return faults_mod.load_fail_types(v)
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise ValueError("a list of type names is needed")
    return tuple(dict.fromkeys(v))


CONFIG_KEYS = {
    "latency_ms": _num(0),
    "row_us": _num(0),
    "json_us": _num(0),
    "out_us": _num(0),
    "capacity": _num(1, integer=True),
    "queue": _num(0, integer=True),
    "query_timeout_s": _num(0),
    "bandwidth_mbit": _num(0),       # 0: unlimited
    "fault_rate": _num(0, 1),
    "faults": _kinds,
    "stall_s": _num(0),
    "retry_after_s": _num(0, integer=True),
    "fail_types": _names,
    "proxy_timeout_s": _num(0),       # 0: no front proxy time-out
    "max_body": _num(0, integer=True),  # 0: no limit
    "auth_down": lambda v: _bool(v),
    "tos_required": lambda v: _bool(v),
}


def _bool(v):
    if not isinstance(v, bool):
        raise ValueError("true or false is needed")
    return v

DEFAULTS = {
    "latency_ms": 200.0, "row_us": 20.0, "json_us": 30.0, "out_us": 2.0,
    "capacity": 8, "queue": 32, "query_timeout_s": 60.0, "bandwidth_mbit": 100.0,
    "fault_rate": 0.0, "faults": faults_mod.DEFAULT_KINDS, "stall_s": 120.0, "retry_after_s": 1,
    "fail_types": (), "proxy_timeout_s": 0.0, "max_body": 0, "auth_down": False,
    "tos_required": False,
}
QUERY_TIMEOUT = {"1.9.2": 3600.0, "1.7.2": 60.0}   # FlyEM's Neo4j limit; the 1.7 HTTP driver's


class Config:
    def __init__(self, **kw):
        self.__dict__.update(DEFAULTS)
        self.update(kw)

    def update(self, d):
        """Validate everything first, then apply: all or nothing."""
        new = {}
        for k, v in d.items():
            conv = CONFIG_KEYS.get(k)
            if conv is None:
                raise ValueError("unknown config key %r (known: %s)" % (k, ", ".join(sorted(CONFIG_KEYS))))
            try:
                new[k] = conv(v)
            except ValueError as e:
                raise ValueError("%s: %s" % (k, e))
        self.__dict__.update(new)
        return new

    def as_dict(self):
        d = {k: getattr(self, k) for k in CONFIG_KEYS}
        d["faults"] = list(d["faults"])
        d["fail_types"] = list(d["fail_types"])
        return d


def modelled_exec_s(cost, cfg):
    return ((cost.scanned + cost.matched) * cfg.row_us + cost.json_parsed * cfg.json_us
            + cost.rows_out * cfg.out_us) * 1e-6


def floor_s(inputs, cfg):
    """latency + (neurons*(row_us+json_us) + rows*out_us)/capacity + bytes*8/bandwidth."""
    work = (inputs["neurons"] * (cfg.row_us + cfg.json_us) + inputs["rows"] * cfg.out_us) * 1e-6
    wire = inputs["bytes"] * 8 / (cfg.bandwidth_mbit * 1e6) if cfg.bandwidth_mbit > 0 else 0.0
    return cfg.latency_ms / 1000.0 + work / cfg.capacity + wire


# --------------------------------------------------------------------------
# shared resources: execution slots, bandwidth bucket
# --------------------------------------------------------------------------

class Admission:
    """`capacity` execution slots, at most `queue` requests waiting (FIFO).
    Both are read from the config at each admission, so changes apply to new
    admissions; running queries keep their slots."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.cv = threading.Condition()
        self.executing = 0
        self.waiting = deque()
        self.peak_executing = 0
        self.peak_waiting = 0

    def acquire(self):
        with self.cv:
            if not self.waiting and self.executing < self.cfg.capacity:
                self._take()
                return True
            if len(self.waiting) >= self.cfg.queue:
                return False
            me = object()
            self.waiting.append(me)
            self.peak_waiting = max(self.peak_waiting, len(self.waiting))
            while self.waiting[0] is not me or self.executing >= self.cfg.capacity:
                self.cv.wait()
            self.waiting.popleft()
            self._take()
            self.cv.notify_all()
            return True

    def _take(self):
        self.executing += 1
        self.peak_executing = max(self.peak_executing, self.executing)

    def release(self):
        with self.cv:
            self.executing -= 1
            self.cv.notify_all()

    def poke(self):
        with self.cv:
            self.cv.notify_all()


class Pacer:
    """One token bucket for every connection: bytes leave at bandwidth_mbit,
    with a burst of BURST bytes."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.lock = threading.Lock()
        self.t = 0.0

    def wait_for(self, n):
        mbit = self.cfg.bandwidth_mbit
        if mbit <= 0:
            return
        rate = mbit * 1e6 / 8.0
        with self.lock:
            now = time.monotonic()
            t = max(self.t, now - BURST / rate) + n / rate
            self.t = t
        d = t - now
        if d > 0:
            time.sleep(d)


# --------------------------------------------------------------------------
# statistics
# --------------------------------------------------------------------------

class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.started = time.monotonic()
            self.requests = 0
            self.by_route = {}
            self.by_shape = {}
            self.by_status = {}
            self.faults = {}
            self.bytes_sent = 0
            self.rejected = 0
            self.retries_seen = 0
            self.timeouts = 0
            self.cypher_errors = 0
            self.fail_types_hit = 0
            self.queries_executed = 0
            self.exec_model_s = 0.0
            self.exec_cpu_s = 0.0
            self.handler_cpu_s = 0.0
            self.queue_wait_s = 0.0
            self.proxy_timeouts = 0
            self.too_large = 0
            self.auth_denied = 0
            self.identical_overlaps = 0
            self.peak_identical = 0
            self.running = {}          # query text -> copies on the server now

    def add(self, field, n=1):
        with self.lock:
            setattr(self, field, getattr(self, field) + n)

    def bump(self, table, key, n=1):
        with self.lock:
            d = getattr(self, table)
            d[key] = d.get(key, 0) + n


# --------------------------------------------------------------------------
# the application
# --------------------------------------------------------------------------

def go_json(obj):
    """JSON the way neuPrintHTTP (Go encoding/json) writes it: compact, UTF-8,
    <, > and & escaped as \\u003c \\u003e \\u0026, U+2028/2029 escaped, and a
    trailing newline."""
    try:
        s = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
        s.encode("utf-8")
    except UnicodeEncodeError:
        s = json.dumps(obj, ensure_ascii=True, separators=(",", ":"))
    if "<" in s or ">" in s or "&" in s or "\u2028" in s or "\u2029" in s:
        s = (s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
             .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))
    return (s + "\n").encode("utf-8")


def _err(msg):
    return go_json({"error": msg})


def _proxy_html(code, reason):
    return ("<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n<center><h1>%d %s</h1>"
            "</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
            % (code, reason, code, reason)).encode("ascii")


def _msg(code, text):
    """An echo HTTPError as its default handler writes it: {"message": ...}."""
    return _Reply(code, go_json({"message": text}))


class _TooLarge(Exception):
    pass


# labels neuPrintHTTP's CypherWrapper (storage/masterdb.go) rewrites, in its order
_REWRITTEN = ("Neuron", "Segment", "Meta", "SynapseSet", "Synapse", "Cell", "ElementSet",
              "Element")


def rewrite_labels(query, dataset):
    """neuPrintHTTP 1.9.2's label rewrite: plain text replacement of
    ':Neuron' by ':`<dataset>_Neuron`' (dataset = the request's name before
    ':'), and so on, everywhere in the text -- string literals and comments
    included, and ':NeuronX' too."""
    if not dataset:
        return query
    root = dataset.split(":", 1)[0]
    query = query.replace(":SynapsesTo", ":XSynapsesTo")
    for lab in _REWRITTEN:
        query = query.replace(":" + lab, ":`%s_%s`" % (root, lab))
    for lab in _REWRITTEN:
        query = query.replace(":`%s`" % lab, ":`%s_%s`" % (root, lab))
    return query.replace(":XSynapsesTo", ":SynapsesTo")


def neo4j_code(msg):
    """The Neo4j status code an error message of the emulator's Cypher
    engine would carry."""
    if msg.startswith("Type mismatch"):
        return "Neo.ClientError.Statement.TypeError"
    if msg.startswith("/ by zero"):
        return "Neo.ClientError.Statement.ArithmeticError"
    if msg.startswith("Failed to invoke function"):
        return "Neo.ClientError.Procedure.ProcedureCallFailed"
    if msg.startswith(("Variable", "Expected parameter")):
        return "Neo.ClientError.Statement.SyntaxError"
    return "Neo.ClientError.Statement.SyntaxError"


class App:
    def __init__(self, dataset, cypher, dataset_name="male-cns:v1.0", token="", config=None,
                 faults=None, seed=1, description=None, verbose=False,
                 server_version=VERSION, auth=None, noaccess_token=None):
        if server_version not in VERSIONS:
            raise ValueError("server version must be one of %s" % ", ".join(VERSIONS))
        self.ds = dataset
        self.cypher = cypher
        self.name = dataset_name
        self.token = token
        self.version = server_version
        self.v19 = server_version != "1.7.2"
        self.auth = auth or ("dsg" if self.v19 else "v17")
        if self.auth not in AUTHS:
            raise ValueError("auth must be one of %s" % ", ".join(AUTHS))
        self.noaccess_token = noaccess_token
        # neuPrintHTTP rewrites labels with the part of the dataset before ':'
        self.label_prefix = dataset_name.split(":", 1)[0]
        self.cfg = config or Config()
        self.faults = faults or faults_mod.Faults(seed=seed)
        self.faults.rate = self.cfg.fault_rate
        self.faults.kinds = tuple(self.cfg.faults)
        self.faults.set_fail_types(self.cfg.fail_types)
        self.verbose = verbose
        self.admission = Admission(self.cfg)
        # The dataset never changes while it is served, so the batched
        # per-type queries are computed once per type (cypher.Memo): Python's
        # CPU is not what the cost model charges for.
        memo_cls = getattr(cypher, "Memo", None)
        self.memo = memo_cls() if memo_cls is not None else None
        self.pacer = Pacer(self.cfg)
        self.stats = Stats()
        # POST /emu/queries {"record": true}: every distinct query text
        # posted from then on, with its dataset and the text as run (after
        # the label rewrite), for checks by another Cypher front end
        # (tests/cypher); off by default: a long run would hold them all.
        self.recording = False
        self.recorded = {}
        self._floor = None
        self._floor_lock = threading.Lock()
        self._cfg_lock = threading.Lock()
        meta = dataset.meta
        try:
            rois = sorted(json.loads(meta.get("roiInfo") or "{}"), key=lambda s: s.encode("utf-8"))
        except ValueError:
            rois = list(meta.get("primaryRois") or [])
        self.datasets_body = go_json({self.name: {
            "uuid": meta.get("uuid"),
            "last-mod": meta.get("lastDatabaseEdit"),
            "ROIs": rois,
            "superLevelROIs": list(meta.get("superLevelRois") or []),
            "description": description or "neuprint-emu synthetic dataset",
            "hidden": False,
        }})
        self.version_body = go_json({"Version": server_version})
        self.serverinfo_body = go_json({"IsPublic": True, "Version": server_version})
        self.available_body = go_json(sorted(ROUTES))

    def warm_queries(self, texts):
        """Run TEXTS (emu.warm: quickpage's batched queries over every type)
        once, as a request would, to fill the memo; the statistics do not
        see them. -> number of texts run."""
        if self.memo is None:
            return 0
        for text in texts:
            if self.v19:
                self.cypher.execute(self.ds, rewrite_labels(text, self.name),
                                    self.label_prefix, memo=self.memo)
            else:
                self.cypher.execute(self.ds, text, memo=self.memo)
        self.memo.hits = self.memo.misses = 0
        return len(texts)

    def record_query(self, text, ds_name, run_text):
        with self.stats.lock:
            self.recorded.setdefault((text, ds_name), run_text)

    def queries_doc(self):
        with self.stats.lock:
            return {"recording": self.recording,
                    "queries": [{"cypher": t, "dataset": d, "run": r}
                                for (t, d), r in self.recorded.items()]}

    def set_recording(self, d):
        if set(d) != {"record"} or not isinstance(d["record"], bool):
            raise ValueError('a JSON object {"record": true|false} is needed')
        with self.stats.lock:
            self.recording = d["record"]
            self.recorded = {}
        return {"recording": d["record"]}

    def update_config(self, d):
        with self._cfg_lock:
            new = self.cfg.update(d)
            if "fault_rate" in new:
                self.faults.rate = new["fault_rate"]
            if "faults" in new:
                self.faults.kinds = tuple(new["faults"])
            if "fail_types" in new:
                self.faults.set_fail_types(new["fail_types"])
        self.admission.poke()
        return self.cfg.as_dict()

    def floor(self):
        with self._floor_lock:
            if self._floor is None:
                self._floor = dict(self.ds.floor_inputs())
            return dict(self._floor)

    def stats_doc(self, with_floor=True):
        st = self.stats
        inputs = self.floor() if with_floor else None
        cfg = self.cfg
        with st.lock:
            d = {
                "uptime_s": round(time.monotonic() - st.started, 3),
                "requests": st.requests,
                "by_route": dict(sorted(st.by_route.items())),
                "by_shape": dict(sorted(st.by_shape.items())),
                "by_status": dict(sorted(st.by_status.items())),
                "bytes_sent": st.bytes_sent,
                "executing": self.admission.executing,
                "waiting": len(self.admission.waiting),
                "peak_executing": self.admission.peak_executing,
                "peak_waiting": self.admission.peak_waiting,
                "rejected": st.rejected,
                "retries_seen": st.retries_seen,
                "faults": dict(sorted(st.faults.items())),
                "fail_types_hit": st.fail_types_hit,
                "timeouts": st.timeouts,
                "cypher_errors": st.cypher_errors,
                "queries_executed": st.queries_executed,
                "exec_model_s": round(st.exec_model_s, 6),
                "exec_cpu_s": round(st.exec_cpu_s, 6),
                "handler_cpu_s": round(st.handler_cpu_s, 6),
                "queue_wait_s": round(st.queue_wait_s, 6),
                "memo": (None if self.memo is None else
                         {"hits": self.memo.hits, "misses": self.memo.misses,
                          "rows": self.memo.rows}),
                "proxy_timeouts": st.proxy_timeouts,
                "too_large": st.too_large,
                "auth_denied": st.auth_denied,
                "identical_running_now": max(st.running.values(), default=0),
                "peak_identical": st.peak_identical,
                "identical_overlaps": st.identical_overlaps,
                "server_version": self.version,
                "auth": self.auth,
            }
        if inputs is None:
            d["floor_s"] = d["floor_inputs"] = None
        else:
            inputs.update({"latency_ms": cfg.latency_ms, "row_us": cfg.row_us,
                           "json_us": cfg.json_us, "out_us": cfg.out_us,
                           "capacity": cfg.capacity, "bandwidth_mbit": cfg.bandwidth_mbit})
            d["floor_s"] = round(floor_s(inputs, cfg), 6)
            d["floor_inputs"] = inputs
        d["config"] = cfg.as_dict()
        return d

    def reset_stats(self):
        running = dict(self.stats.running)
        self.stats.reset()
        with self.stats.lock:
            self.stats.running = running       # still on the server
            self.stats.peak_identical = max(running.values(), default=0)
        if self.memo is not None:
            self.memo.hits = self.memo.misses = 0     # its rows stay: they are the dataset's
        with self.admission.cv:
            self.admission.peak_executing = self.admission.executing
            self.admission.peak_waiting = len(self.admission.waiting)


def is_loopback(host):
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


class _Reply:
    """What a route decided: status, body, headers, and how to send it."""
    __slots__ = ("status", "body", "ctype", "headers", "mode", "close")

    def __init__(self, status, body, ctype=JSON_CT, headers=(), mode="normal"):
        self.status = status
        self.body = body
        self.ctype = ctype
        self.headers = list(headers)
        self.mode = mode          # normal | reset | stall | truncate | badjson
        self.close = False        # the proxy closes the connection after it


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "neuprint-emu"
    sys_version = ""
    timeout = IDLE_TIMEOUT
    app = None                    # set by make_server

    def log_message(self, fmt, *args):
        if self.app.verbose:
            sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))

    def log_request(self, code="-", size="-"):
        pass

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def do_HEAD(self):
        self._dispatch("HEAD")

    # ---- request body
    def _read_body(self, limit=0):
        """The request body; ValueError if unreadable, _TooLarge above limit
        (a front proxy's client_max_body_size; 0 = none)."""
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            parts = []
            total = 0
            while True:
                line = self.rfile.readline(1024)
                if not line:
                    raise ValueError("truncated chunked body")
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > MAX_BODY:
                    raise ValueError("body too large")
                parts.append(self.rfile.read(size))
                self.rfile.readline(1024)
            if limit and total > limit:
                raise _TooLarge()
            return b"".join(parts)
        n = self.headers.get("Content-Length")
        if not n:
            return b""
        n = int(n)
        if n < 0 or n > MAX_BODY:
            raise ValueError("bad Content-Length")
        if limit and n > limit:
            # nginx decides on the header, then reads and discards the body
            # before it answers (ngx_http_core_find_config_handler calls
            # ngx_http_discard_request_body), so the client sees the 413
            # instead of a reset in mid-upload.
            while n > 0:
                chunk = self.rfile.read(min(n, 65536))
                if not chunk:
                    break
                n -= len(chunk)
            raise _TooLarge()
        data = self.rfile.read(n)
        if len(data) != n:
            raise ValueError("truncated body")
        return data

    # ---- dispatch
    def _dispatch(self, method):
        app = self.app
        t0 = time.monotonic()
        c0 = time.thread_time()
        path = self.path.split("?", 1)[0]
        too_large = False
        try:
            body = self._read_body(0 if path.startswith("/emu/") else app.cfg.max_body)
        except _TooLarge:
            self.close_connection = True
            body = None
            too_large = True
        except (ValueError, OSError):
            self.close_connection = True
            if path.startswith("/emu/"):
                return
            body = None
        if path.startswith("/emu/"):
            reply = self._admin(method, path, body)
            self._send(reply, paced=False, count=False)
            return
        st = app.stats
        allowed = ROUTES.get(path)
        route = ("%s %s" % (method, path)) if allowed else "other"
        st.add("requests")
        st.bump("by_route", route)
        auth = self.headers.get("Authorization")
        if too_large:
            st.add("too_large")
            reply = _Reply(413, _proxy_html(413, "Request Entity Too Large"), HTML_CT)
        elif app.cfg.proxy_timeout_s > 0 and path == "/api/custom/custom":
            reply = self._behind_proxy(method, path, body, allowed, t0, auth)
        else:
            reply = self._route_safe(method, path, body, allowed, t0, auth)
        # latency: nothing leaves before t0 + latency (the modelled round trip)
        d = t0 + app.cfg.latency_ms / 1000.0 - time.monotonic()
        if d > 0:
            time.sleep(d)
        st.bump("by_status", str(reply.status) if reply.mode != "reset" else "reset")
        st.add("handler_cpu_s", time.thread_time() - c0)
        self._send(reply)
        if self.app.verbose:
            sys.stderr.write("%s %s %s %s %.1fms\n" % (self.client_address[0], method, path,
                             reply.status if reply.mode == "normal" else reply.mode,
                             (time.monotonic() - t0) * 1000))

    def _route_safe(self, method, path, body, allowed, t0, auth):
        try:
            return self._route(method, path, body, allowed, t0, auth)
        except Exception:
            traceback.print_exc(file=sys.stderr)
            return _Reply(500, _err("internal emulator error"))

    def _behind_proxy(self, method, path, body, allowed, t0, auth):
        """A front proxy with proxy_read_timeout S: if the server has not
        answered S seconds after the round trip, the client gets 504 (HTML)
        while the server goes on running the query, holding its slot."""
        app = self.app
        box = []
        done = threading.Event()

        def work():
            box.append(self._route_safe(method, path, body, allowed, t0, auth))
            done.set()
        threading.Thread(target=work, daemon=True).start()
        deadline = t0 + app.cfg.latency_ms / 1000.0 + app.cfg.proxy_timeout_s
        if done.wait(max(0.0, deadline - time.monotonic())):
            return box[0]
        app.stats.add("proxy_timeouts")
        return _Reply(504, _proxy_html(504, "Gateway Time-out"), HTML_CT)

    def _route(self, method, path, body, allowed, t0, auth):
        app = self.app
        if allowed is None:
            return _Reply(404, _err("route %s not found" % path))
        if method != allowed:
            return _Reply(405, _err("method %s not allowed on %s" % (method, path)),
                          headers=[("Allow", allowed)])
        ident = None
        if app.auth == "dsg":
            ident, deny = self._dsg_identity(auth, path == "/api/custom/custom")
            if deny is not None:
                app.stats.add("auth_denied")
                return deny
        else:
            scheme, _, tok = (auth or "").partition(" ")
            if scheme.lower() != "bearer" or not app.token or tok.strip() != app.token:
                app.stats.add("auth_denied")
                return _Reply(401, _err("Please provide valid credentials"))
        if body is None:
            return _Reply(400, _err("could not read request body"))
        # the modelled round trip happens before the server works on it
        d = t0 + app.cfg.latency_ms / 1000.0 - time.monotonic()
        if d > 0:
            time.sleep(d)
        if path == "/api/custom/custom":
            return self._custom(body, ident)
        if path == "/api/dbmeta/datasets":
            if ident == "noaccess":
                return _Reply(200, go_json({}))
            return _Reply(200, app.datasets_body)
        if path == "/api/version":
            return _Reply(200, app.version_body)
        if path == "/api/serverinfo":
            return _Reply(200, app.serverinfo_body)
        return _Reply(200, app.available_body)

    # ---- DatasetGateway (neuPrintHTTP 1.8+, secure/dsg.go)
    def _dsg_identity(self, auth, guarded):
        """(identity, None) or (None, deny reply). identity: 'user' (the
        --token), 'noaccess' (--noaccess-token) or None (anonymous)."""
        app = self.app
        if auth is None:
            if not guarded:
                return None, None       # named-exception routes admit anonymous callers
            if app.cfg.auth_down:
                return None, _msg(502, "auth service unavailable")
            return None, _msg(401, "authentication required")
        fields = auth.split()
        if len(fields) != 2 or fields[0].lower() != "bearer":
            return None, _msg(401, "invalid or expired token")
        if app.cfg.auth_down:
            return None, _msg(502, "auth service unavailable")
        if app.token and fields[1] == app.token:
            return "user", None
        if app.noaccess_token and fields[1] == app.noaccess_token:
            return "noaccess", None
        return None, _msg(401, "invalid or expired token")

    def _dsg_access(self, ident, dataset):
        """RequireDatasetAccess: runs before the dataset lookup, so a dataset
        the gateway does not know is 403 like one the user may not read."""
        app = self.app
        served = dataset.lower() == app.name.lower()
        if ident == "user" and served:
            if app.cfg.tos_required:
                return _Reply(403, go_json({"dataset": dataset,
                                            "message": "Terms of Service acceptance "
                                                       "required for this dataset",
                                            "tos_required": True,
                                            "tos_url": TOS_URL % app.label_prefix}))
            return None
        return _msg(403, "You do not have access to " + dataset + " dataset")

    def _db_error(self, text17, text19):
        """A database error as the server version words it (400)."""
        if self.app.v19:
            if "Timeout" in text19:
                return _Reply(400, _err(TIMEOUT_EXPERIENCED))
            return _Reply(400, _err(EXEC_FAILED + text19))
        return _Reply(400, _err(text17))

    def _custom(self, body, ident=None):
        app = self.app
        st = app.stats
        cfg = app.cfg
        v19 = app.v19
        try:
            req = json.loads(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            if v19:
                return _Reply(400, _err("request object not formatted correctly"))
            return _Reply(400, _err("malformed JSON request body: %s" % e))
        if not isinstance(req, dict) or not isinstance(req.get("cypher"), str):
            if v19:
                return _Reply(400, _err("request object not formatted correctly"))
            return _Reply(400, _err('request body must be a JSON object with a "cypher" string'))
        ds_name = req.get("dataset")
        if v19:
            if not isinstance(ds_name, str):
                ds_name = ""
            if app.auth == "dsg":
                deny = self._dsg_access(ident, ds_name)
                if deny is not None:
                    st.add("auth_denied")
                    return deny
            if ds_name.lower() != app.name.lower():
                return _Reply(404, _err('dataset "%s" not available in stores' % ds_name))
        elif ds_name not in (None, "") and ds_name != app.name:
            return _Reply(404, _err("dataset %s not found" % (ds_name,)))
        text = req["cypher"]
        run_text = rewrite_labels(text, ds_name) if v19 else text
        if app.recording:
            app.record_query(text, ds_name, run_text)
        try:
            shape = app.cypher.shape_of(text)
        except Exception:
            shape = "?"
        st.bump("by_shape", shape)
        n = app.faults.seen(body)
        if n:
            st.add("retries_seen")
        kind, aux = app.faults.draw(body, n)
        ra = [("Retry-After", str(cfg.retry_after_s))]
        if kind is not None:
            st.bump("faults", kind)
            if kind == "reset":
                return _Reply(0, b"", mode="reset")
            if kind == "500":
                return _Reply(500, _err("Neo4jError: Neo.DatabaseError.General.UnknownError: "
                                        "emulated internal server error"))
            if kind == "429":
                return _Reply(429, _err("too many requests, retry later"), headers=ra)
            if kind in ("502", "503"):
                code = int(kind)
                reason = "Bad Gateway" if code == 502 else "Service Unavailable"
                hdr = ra if code == 503 else []
                if aux & 1:
                    return _Reply(code, _proxy_html(code, reason), HTML_CT, hdr)
                return _Reply(code, _err(reason.lower()), headers=hdr)
            if kind == "transient400":
                return self._db_error(TRANSIENT_17, TRANSIENT_19 % (2 + aux % 6))
            if kind == "pool400":
                return self._db_error(POOL_17, POOL_17)
        failing = app.faults.failing_type(text)
        if failing is not None:
            st.add("fail_types_hit")
            return self._db_error("Neo4jError: Neo.DatabaseError.Statement.ExecutionFailed: "
                                  "emulated failure for type %s" % failing,
                                  "Neo4jError: Neo.DatabaseError.Statement.ExecutionFailed "
                                  "(emulated failure for type %s)" % failing)
        self._start_running(text)
        try:
            return self._execute(text, run_text, kind, aux, ra)
        finally:
            self._stop_running(text)

    def _start_running(self, text):
        st = self.app.stats
        with st.lock:
            k = st.running.get(text, 0)
            if k:
                st.identical_overlaps += 1
            st.running[text] = k + 1
            st.peak_identical = max(st.peak_identical, k + 1)

    def _stop_running(self, text):
        st = self.app.stats
        with st.lock:
            k = st.running.get(text, 1) - 1
            if k:
                st.running[text] = k
            else:
                st.running.pop(text, None)

    def _execute(self, text, run_text, kind, aux, ra):
        app = self.app
        st = app.stats
        cfg = app.cfg
        q0 = time.monotonic()
        if not app.admission.acquire():
            st.add("rejected")
            if app.v19:       # the 1.9 server queues on its connection pool, never 503s
                return self._db_error(POOL_17, POOL_17)
            if (aux >> 1) & 1:
                return _Reply(503, _proxy_html(503, "Service Unavailable"), HTML_CT, ra)
            return _Reply(503, _err("server overloaded: too many queries"), headers=ra)
        start = time.monotonic()
        st.add("queue_wait_s", start - q0)
        try:
            c0 = time.thread_time()
            try:
                if app.v19:
                    res = app.cypher.execute(app.ds, run_text, app.label_prefix,
                                             memo=app.memo)
                else:
                    res = app.cypher.execute(app.ds, text, memo=app.memo)
            except Exception as e:
                cls = getattr(app.cypher, "CypherError", None)
                if cls is not None and isinstance(e, cls):
                    st.add("cypher_errors")
                    msg = getattr(e, "message", None) or str(e)
                    return self._db_error(msg, "Neo4jError: %s (%s)" % (neo4j_code(msg), msg))
                raise
            cpu = time.thread_time() - c0
            model = modelled_exec_s(res.cost, cfg)
            st.add("queries_executed")
            st.add("exec_cpu_s", cpu)
            tmo = cfg.query_timeout_s
            if model > tmo:
                st.add("exec_model_s", tmo)
                st.add("timeouts")
                d = start + tmo - time.monotonic()
                if d > 0:
                    time.sleep(d)
                return self._db_error(TIMEOUT_MSG, TIMEOUT_19)
            st.add("exec_model_s", model)
            d = start + max(model, cpu) - time.monotonic()
            if d > 0:
                time.sleep(d)
        finally:
            app.admission.release()
        doc = {"columns": list(res.columns), "data": res.rows}
        if app.v19:
            doc["debug"] = run_text       # storage.CypherResult.Debug: the query as run
        out = go_json(doc)
        hdr = [("X-Emu-Exec-Ms", "%.3f" % (model * 1000)), ("X-Emu-Cpu-Ms", "%.3f" % (cpu * 1000)),
               ("X-Emu-Queue-Ms", "%.3f" % ((start - q0) * 1000))]
        if kind in ("stall", "truncate", "badjson"):
            return _Reply(200, out, headers=hdr, mode=kind)
        return _Reply(200, out, headers=hdr)

    # ---- admin
    def _admin(self, method, path, body):
        app = self.app
        if not is_loopback(self.client_address[0]):
            return _Reply(403, _err("admin routes answer loopback clients only"))
        allowed = ADMIN_ROUTES.get(path)
        if allowed is None:
            return _Reply(404, _err("route %s not found" % path))
        if method not in allowed:
            return _Reply(405, _err("method %s not allowed on %s" % (method, path)),
                          headers=[("Allow", ", ".join(allowed))])
        if path == "/emu/stats":
            floor = "floor=0" not in self.path.partition("?")[2].split("&")
            return _Reply(200, (json.dumps(app.stats_doc(floor), indent=1, ensure_ascii=False)
                                + "\n").encode("utf-8"))
        if path == "/emu/stats/reset":
            app.reset_stats()
            return _Reply(200, go_json({"reset": True}))
        if path == "/emu/queries" and method == "GET":
            return _Reply(200, go_json(app.queries_doc()))
        if method == "GET":
            return _Reply(200, go_json(app.cfg.as_dict()))
        try:
            d = json.loads((body or b"").decode("utf-8"))
            if not isinstance(d, dict):
                raise ValueError("a JSON object is needed")
            if path == "/emu/queries":
                return _Reply(200, go_json(app.set_recording(d)))
            return _Reply(200, go_json(app.update_config(d)))
        except (ValueError, UnicodeDecodeError) as e:
            return _Reply(400, _err(str(e)))

    # ---- sending
    def _head(self, reply, length):
        lines = ["HTTP/1.1 %d %s" % (reply.status, self.responses.get(reply.status, ("",))[0]),
                 "Date: " + formatdate(usegmt=True),
                 "Server: neuprint-emu",
                 "Content-Type: " + reply.ctype,
                 "Content-Length: %d" % length if length is not None
                 else "Transfer-Encoding: chunked"]
        for k, v in reply.headers:
            lines.append("%s: %s" % (k, v))
        if self.close_connection:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _write(self, data, paced=True, count=True):
        app = self.app
        for i in range(0, len(data), CHUNK):
            chunk = data[i:i + CHUNK]
            if paced:
                app.pacer.wait_for(len(chunk))
            self.wfile.write(chunk)
            if count:
                app.stats.add("bytes_sent", len(chunk))

    def _send(self, reply, paced=True, count=True):
        try:
            mode = reply.mode
            if mode == "reset":
                self._reset()
                return
            body = reply.body
            if self.command == "HEAD":
                self._write(self._head(reply, len(body)), paced, count)
                return
            if mode == "normal":
                if self._chunked(reply, paced):
                    # Go's net/http: a body written in one piece larger than
                    # its 2 KiB buffer goes as one chunk, then the last chunk
                    self._write(self._head(reply, None) + b"%x\r\n" % len(body) + body
                                + b"\r\n0\r\n\r\n", paced, count)
                else:
                    self._write(self._head(reply, len(body)) + body, paced, count)
                return
            cut = body[:max(1, len(body) // 2)] if len(body) > 1 else b""
            if mode == "badjson":
                self._write(self._head(reply, len(cut)) + cut, paced, count)
                return
            self.close_connection = True
            self._write(self._head(reply, len(body)) + cut, paced, count)
            if mode == "stall":
                time.sleep(self.app.cfg.stall_s)
        except (OSError, ValueError):
            self.close_connection = True

    def _chunked(self, reply, paced):
        return (paced and self.app.v19 and reply.ctype == JSON_CT
                and len(reply.body) > GO_CHUNK_AFTER)

    def _reset(self):
        self.close_connection = True
        sock = self.connection
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        for f in (self.wfile, self.rfile):
            try:
                f.close()
            except (OSError, ValueError):
                pass
        try:
            sock.close()          # no close_notify, no FIN: the kernel sends RST
        except OSError:
            pass


class EmuHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, addr, handler, ssl_ctx):
        if ":" in addr[0]:
            self.address_family = socket.AF_INET6
        self.ssl_ctx = ssl_ctx
        super().__init__(addr, handler)

    def server_bind(self):
        # HTTPServer.server_bind would call getfqdn(): a DNS lookup, skipped
        super(ThreadingHTTPServer, self).server_bind()
        host, port = self.server_address[:2]
        self.server_name = host
        self.server_port = port

    def finish_request(self, request, client_address):
        request.settimeout(HANDSHAKE_TIMEOUT)
        try:
            conn = self.ssl_ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            if Handler.app is not None and Handler.app.verbose:
                sys.stderr.write("TLS handshake from %s failed: %s\n" % (client_address[0], e))
            return
        try:
            self.RequestHandlerClass(conn, client_address, self)
        finally:
            try:
                conn.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            try:
                conn.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, ssl.SSLError, TimeoutError, socket.timeout)):
            return
        if Handler.app is not None and Handler.app.verbose:
            super().handle_error(request, client_address)


def make_server(app, host, port, tls_files):
    handler = type("EmuHandler", (Handler,), {"app": app})
    Handler.app = app
    srv = EmuHTTPServer((host, port), handler, tls_mod.server_context(tls_files))
    return srv


def url_of(host, port):
    h = "[%s]" % host if ":" in host else host
    return "https://%s:%d" % (h, port)
