"""Hostile clients of quickpaged, as another user, for test_hostile.py and
bench/bench.py (scenario hostile).

Run as a script (by Attacker, as the user it is given) it is one attacker
or the prober:

  hostile_harness.py attack KIND SOCKET N      until SIGTERM, then one JSON
                                               line of counts on stdout
  hostile_harness.py probe SOCKET COUNT GAP_S  COUNT pings on fresh
                                               connections, one JSON line

Attacks (KIND): flood (N connections held open, nothing sent; flood1:
the same without reconnecting), slow (N
connections each sending a ping one byte a second), noread (N
connections asking for large replies and a watch, never reading),
garbage (N at a time: random bytes and lines, then close), oversized (N
connections each sending 2 MiB with no newline), halfclose (N at a time: half a request, shut the write side).
Every attack reconnects when the daemon drops it, so the pressure stays.
"""
import json
import os
import random
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# Debian's: another user may not run one under root's home (pyenv).
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
PING = b'{"v":1,"op":"ping","id":1}\n'
STOP = False


def _stop(*_):
    global STOP
    STOP = True


def conn(path, rcvbuf=None):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(10)
    s.connect(path)
    s.setblocking(False)
    return s


class Counts(dict):
    def add(self, k, n=1):
        self[k] = self.get(k, 0) + n


def read_verdict(s, counts):
    """What the daemon said on S (non-blocking): count codes and closes.
    True when S is closed."""
    try:
        d = s.recv(65536)
    except BlockingIOError:
        return False
    except OSError:
        counts.add("reset")
        return True
    if not d:
        counts.add("closed")
        return True
    for line in d.split(b"\n"):
        if b'"code"' in line:
            try:
                e = json.loads(line)["error"]
            except ValueError:
                continue
            counts.add("code:" + e["code"])
            counts.setdefault("msg:" + e["code"], e["message"])
    return False


def send_some(s, data):
    try:
        return s.send(data)
    except BlockingIOError:
        return 0
    except OSError:
        return -1


def attack(kind, path, n):
    counts = Counts()
    socks = {}      # socket -> bytes still to send
    rng = random.Random(7)

    def opened():
        try:
            s = conn(path, 4096 if kind == "noread" else None)
        except OSError:
            counts.add("connect_failed")
            time.sleep(0.05)
            return
        counts.add("connects")
        if kind == "slow":
            socks[s] = PING
        elif kind == "noread":
            socks[s] = b'{"v":1,"op":"list","limit":1000}\n{"v":1,"op":"stats"}\n' * 400
        elif kind == "garbage":
            blob = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4096)))
            socks[s] = blob + b"\n" + b"{\"v\":1,\"op\":" + blob[:64] + b"\n"
        elif kind == "oversized":
            socks[s] = b"{" + b" " * (2 << 20)
        elif kind == "halfclose":
            socks[s] = b'{"v":1,"op":"pi'
        else:
            socks[s] = b""

    signal.signal(signal.SIGTERM, _stop)
    for _ in range(n):
        opened()
    print(json.dumps({"ready": True}), flush=True)
    last_byte = time.monotonic()
    while not STOP:
        now = time.monotonic()
        tick = now - last_byte >= 1.0
        if tick:
            last_byte = now
        for s in list(socks):
            data = socks[s]
            if kind == "slow":
                k = send_some(s, data[:1]) if tick else 0
            else:
                k = send_some(s, data) if data else 0
            if k > 0:
                socks[s] = data[k:]
                if kind == "slow" and not socks[s]:
                    socks[s] = PING
                elif kind == "noread" and len(socks[s]) < 4096:
                    socks[s] += b'{"v":1,"op":"stats"}\n' * 64
                elif kind == "halfclose" and not socks[s]:
                    s.shutdown(socket.SHUT_WR)
            # a non-reader learns of its drop only from a failed write
            gone = k < 0 if kind == "noread" else read_verdict(s, counts)
            if gone:
                if k < 0:
                    counts.add("closed")
                s.close()
                del socks[s]
                if kind != "flood1":
                    opened()
        time.sleep(0.05 if kind == "slow" else 0.01)
    counts["open_at_end"] = len(socks)
    for s in socks:
        s.close()
    print(json.dumps(counts), flush=True)


def probe(path, count, gap):
    """COUNT pings, each on a fresh connection: latencies and failures."""
    lat, errors = [], []
    for _ in range(count):
        t = time.monotonic()
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)     # blocking, as qpctl's: waits out a full backlog
            s.settimeout(10)
            s.sendall(PING)
            buf = b""
            while not buf.endswith(b"\n"):
                d = s.recv(65536)
                if not d:
                    break
                buf += d
            s.close()
            r = json.loads(buf)
            if r.get("ok"):
                lat.append(time.monotonic() - t)
            else:
                errors.append(r["error"]["code"])
        except (OSError, ValueError) as e:
            errors.append(str(e))
        time.sleep(gap)
    print(json.dumps({"lat": lat, "errors": errors}), flush=True)


# ---- used by the tests and the bench (as root) ----

def _copy_self():
    """This file where any user can run it (the checkout may be 0700)."""
    d = tempfile.mkdtemp(prefix="qp-hostile-")
    os.chmod(d, 0o711)
    p = os.path.join(d, "hostile_harness.py")
    shutil.copy(os.path.abspath(__file__), p)
    os.chmod(p, 0o755)
    return d, p


def _as(uid, gid):
    def pre():
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    return pre


class Attacker:
    """One attack as user UID (group GID); stop() returns its counts."""

    def __init__(self, kind, sock, n, uid=65534, gid=65534):
        self.dir, script = _copy_self()
        self.proc = subprocess.Popen([PYTHON, script, "attack", kind, sock, str(n)],
                                     stdout=subprocess.PIPE, text=True,
                                     preexec_fn=_as(uid, gid))
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("attacker %s did not start" % kind)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            out = self.proc.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out = self.proc.communicate()[0]
        shutil.rmtree(self.dir, ignore_errors=True)
        return json.loads(out.strip().splitlines()[-1]) if out.strip() else {}


def probe_as(sock, count, gap, uid, gid):
    """Pings from another user: {"lat": [s, ...], "errors": [...]}."""
    d, script = _copy_self()
    try:
        r = subprocess.run([PYTHON, script, "probe", sock, str(count), str(gap)],
                           stdout=subprocess.PIPE, text=True, timeout=600,
                           preexec_fn=_as(uid, gid))
        return json.loads(r.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(d, ignore_errors=True)


def percentile(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))] if xs else None


if __name__ == "__main__":
    if sys.argv[1] == "attack":
        attack(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif sys.argv[1] == "probe":
        probe(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    else:
        sys.exit("usage: hostile_harness.py attack KIND SOCKET N | probe SOCKET COUNT GAP_S")
