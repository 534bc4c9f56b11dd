"""limsim: the emulator's admission model, driving a limiter through ctypes.

A discrete-event model of tests/neuprint-emu's server (capacity slots,
a FIFO queue of QUEUE, 503 with Retry-After past it, capacity changed at
given times) with an always-backlogged client that asks the limiter for
every send, as pipeline/neuprint/upstream.c does, and releases every answer
with its size, as fetch does. Query costs are lognormal with the spreads
measured for the TestConverge and TestCapacityChange workloads
(docs/concurrency.md). Both checks of those tests are scored with the
tests' own thresholds, over N seeds.

    tools/limsim/run [LIMITER.c]     (default pipeline/neuprint/limiter.c)
    N=40 NQ=295 V=1 (per seed) LONG=1 (phases 10 s / 10 s) LAT=0 (network s)
    WORK=0.1 (log SD of the size's error) NOWORK=1 (no sizes)
    SD=0.71 (step costs' log SD) Q=16 (step queue)   in the environment
"""
import ctypes
import heapq
import math
import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "tests", "integration"))
from res_harness import trace_mean  # noqa: E402  (the tests' own scoring)

class Answer(ctypes.Structure):
    _fields_ = [("rtt_s", ctypes.c_double), ("work", ctypes.c_double), ("kind", ctypes.c_uint)]

class Sample(ctypes.Structure):
    _fields_ = [("t", ctypes.c_double), ("limit", ctypes.c_uint), ("in_flight", ctypes.c_uint)]

def load(so):
    L = ctypes.CDLL(so)
    L.lim_new.argtypes = [ctypes.c_uint]*3 + [ctypes.c_double, ctypes.POINTER(ctypes.c_void_p)]
    L.lim_acquire.argtypes = [ctypes.c_void_p, ctypes.c_double]
    L.lim_release.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(Answer), ctypes.c_double]
    L.lim_acquire.restype = ctypes.c_int
    L.lim_pause.argtypes = [ctypes.c_void_p, ctypes.c_double, ctypes.c_double]
    L.lim_pause_left.argtypes = [ctypes.c_void_p, ctypes.c_double]
    L.lim_pause_left.restype = ctypes.c_double
    L.lim_limit.argtypes = [ctypes.c_void_p]
    L.lim_limit.restype = ctypes.c_uint
    L.lim_free.argtypes = [ctypes.c_void_p]
    L.lim_trace.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.POINTER(Sample))]
    L.lim_trace.restype = ctypes.c_size_t
    return L

OK, OVER = 0, 1
NOWORK = os.environ.get("NOWORK") is not None
WNOISE = float(os.environ.get("WORK", "0.1"))

def run(L, seed, caps, queue, lat, costs, conc, overhead=0.004, retry_after=1.0):
    rng = random.Random(seed)
    lim = ctypes.c_void_p()
    assert L.lim_new(conc[0], conc[1], conc[2], 0.0, ctypes.byref(lim)) == 0
    ev = []; seq = [0]
    def push(t, kind, data=None):
        seq[0] += 1; heapq.heappush(ev, (t, seq[0], kind, data))
    for t, c in caps[1:]:
        push(t, "cap", c)
    cap = caps[0][1]
    waiting = [(0.0, c) for c in costs]   # not yet sent: (not_before, cost)
    executing = 0; fifo = []
    done = 0; n = len(costs); req = 0; rej_after5 = 0; req_after5 = 0
    now = 0.0
    timer_at = [math.inf]       # the one pending "timer" event, if any
    def dispatch():
        i = 0
        while i < len(waiting):
            nb, c = waiting[i]
            if nb > now:
                i += 1; continue
            if not L.lim_acquire(lim, now):
                break
            waiting.pop(i)
            push(now + lat, "arrive", (now, c))
        # timer for retries / pause
        nxt = math.inf
        pl = L.lim_pause_left(lim, now)
        for nb, c in waiting:
            nxt = min(nxt, max(nb, now + pl))
        # Like upstream.c's one uv timer: re-armed only for an earlier time.
        if now < nxt < timer_at[0]:
            timer_at[0] = nxt
            push(nxt, "timer")
    def start(sent, c):
        nonlocal executing
        executing += 1
        push(now + c, "finish", (sent, c))
    dispatch()
    while ev:
        now, _, kind, data = heapq.heappop(ev)
        if kind == "cap":
            cap = data
            while executing < cap and fifo:
                start(*fifo.pop(0))
        elif kind == "arrive":
            sent, c = data
            req += 1
            if now >= 5: req_after5 += 1
            if executing < cap:
                start(sent, c)
            elif len(fifo) < queue:
                fifo.append((sent, c))
            else:
                if now >= 5: rej_after5 += 1
                rtt = now - sent + overhead
                L.lim_release(lim, OVER, Answer(rtt, 0, 0), now + overhead)
                L.lim_pause(lim, retry_after, now + overhead)
                waiting.insert(0, (now + retry_after * (0.5 + rng.random()), c))
                dispatch()
        elif kind == "finish":
            sent, c = data
            executing -= 1
            while executing < cap and fifo:
                start(*fifo.pop(0))
            push(now + overhead, "reply", (sent, c))
        elif kind == "reply":
            sent, c = data
            # The answer's size: its cost, give or take what the
            # emulator's per-neuron model misses (WORK, log SD).
            w = 0 if NOWORK else c * math.exp(rng.gauss(0, WNOISE))
            L.lim_release(lim, OK, Answer(now - sent, w, 0), now)
            done += 1
            if done == n:
                break
            dispatch()
        elif kind == "timer":
            if now >= timer_at[0]:
                timer_at[0] = math.inf
            dispatch()
    p = ctypes.POINTER(Sample)()
    k = L.lim_trace(lim, ctypes.byref(p))
    tr = [(p[i].t, p[i].limit) for i in range(k)]
    L.lim_free(lim)
    return dict(wall=now, trace=tr, req=req, rej5=rej_after5, req5=req_after5)

def lognorm(rng, med, sd, lo, hi, n):
    return [min(max(med * math.exp(rng.gauss(0, sd)), lo), hi) for _ in range(n)]

SD = float(os.environ.get("SD", "0.71"))
QUEUE = int(os.environ.get("Q", "16"))


def step(L, seed, lat=0.0, nq=None, med=0.28, sd=SD, d=6.0, u=13.0, settle=1.5):
    rng = random.Random(seed * 7 + 1)
    costs = lognorm(rng, med, sd, 0.001, 2.3, nq)
    r = run(L, seed, [(0, 8), (d, 2), (u, 8)], QUEUE, lat, costs, (1, 8, 64))
    tr, end = r["trace"], r["wall"]
    ph = [(settle, d), (d + settle, u), (u + settle, end)]
    m = [trace_mean(tr, a, b) for a, b in ph]
    ok = end - ph[2][0] >= 3 and m[1] < 0.6 * m[0] and m[1] < 0.6 * m[2] and m[1] <= 4
    return ok, m, end, r

def converge(L, seed, nq=320, med=0.066, sd=0.93):
    rng = random.Random(seed * 7 + 2)
    costs = lognorm(rng, med, sd, 0.0005, 3.0, nq)
    r = run(L, seed, [(0, 4)], 8, 0.0, costs, (1, 32, 64))
    tr, end = r["trace"], r["wall"]
    half = trace_mean(tr, end / 2, end)
    ok = 2 <= half <= 6 and r["rej5"] < 0.02 * max(r["req5"], 1)
    return ok, half, end, r

if __name__ == "__main__":
    L = load(sys.argv[1])
    nq = int(os.environ.get("NQ", "295"))
    lat = float(os.environ.get("LAT", "0"))
    N = int(os.environ.get("N", "40"))
    oks = 0; oc = 0
    kw = dict(d=10.0, u=20.0, nq=480) if os.environ.get("LONG") else dict(nq=nq)
    for s in range(N):
        ok, m, end, r = step(L, s, lat=lat, **kw)
        oks += ok
        ok2, half, end2, r2 = converge(L, s)
        oc += ok2
        if os.environ.get("V"):
            print("seed %2d step %s %5.2f %5.2f %5.2f end %5.1f | conv %s %5.2f end %5.1f rej5 %d/%d"
                  % (s, "ok " if ok else "BAD", *m, end, "ok " if ok2 else "BAD", half, end2, r2["rej5"], r2["req5"]))
    print("step %d/%d  converge %d/%d" % (oks, N, oc, N))
