#!/usr/bin/python3
"""HTTPS test server for test_http (Python 3 stdlib + the openssl CLI).

usage: http_server.py DIR TOKEN

Makes a throwaway CA and a server certificate for 127.0.0.1 in DIR (plus
an unrelated CA, other-ca.pem, for the wrong-CA test), listens on a free
port of 127.0.0.1 and prints "PORT <n>" once it accepts connections, then
"PROXY <m>": a plain HTTP proxy that only does CONNECT (below). It exits
when its stdin closes or on SIGTERM.

The proxy appends "CONNECT <target>[ auth]" to DIR/proxy.log for every
request ("auth": it carried Proxy-Authorization), then by target host:
  deny407.test     407 Proxy Authentication Required
  deny403.test     403 Filtered
  down502.test     502 Bad Gateway
  leaky.test       403 with the request's Proxy-Authorization in the text
  127.0.0.1:<n>    200, then a tunnel to the HTTPS server
  anything else    403 Forbidden

POST routes:
  /echo            200 {"body": ..., "content_type": ..., "accept": ...}
                   if "Authorization: Bearer TOKEN", else 401
  /busy            503, Retry-After: 2
  /busydate        503, Retry-After as an HTTP-date 3 s ahead
  /slow?ms=N       200 after N ms
  /reset           reads the request, closes without answering (RST)
  /truncated       200 promising 1000 bytes, sends 10, closes
  /big             200 with 100000 bytes
"""
import email.utils
import http.server
import json
import os
import selectors
import socket
import socketserver
import ssl
import struct
import subprocess
import sys
import threading
import time


def openssl(*args):
    subprocess.run(["openssl", *args], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_certs(d):
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
          "-nodes"]
    for name in ("ca", "other-ca"):
        openssl("req", "-x509", *ec, "-keyout", f"{d}/{name}.key",
                "-out", f"{d}/{name}.pem", "-days", "2",
                "-subj", f"/CN=quickpage test {name}")
    openssl("req", *ec, "-keyout", f"{d}/server.key",
            "-out", f"{d}/server.csr", "-subj", "/CN=127.0.0.1")
    with open(f"{d}/ext.cnf", "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n"
                "basicConstraints=CA:FALSE\n"
                "extendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", f"{d}/server.csr", "-CA", f"{d}/ca.pem",
            "-CAkey", f"{d}/ca.key", "-CAcreateserial",
            "-out", f"{d}/server.pem", "-days", "2",
            "-extfile", f"{d}/ext.cnf")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"     # keep-alive

    def log_message(self, *args):
        pass

    def send_json(self, code, obj, headers=()):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        path, _, query = self.path.partition("?")
        if path == "/echo":
            if self.headers.get("Authorization") != "Bearer " + TOKEN:
                return self.send_json(401, {"error": "bad token"})
            return self.send_json(200, {
                "body": body.decode(),
                "content_type": self.headers.get("Content-Type"),
                "accept": self.headers.get("Accept")})
        if path == "/busy":
            return self.send_json(503, {"error": "busy"},
                                  [("Retry-After", "2")])
        if path == "/busydate":
            when = email.utils.formatdate(time.time() + 3, usegmt=True)
            return self.send_json(503, {"error": "busy"},
                                  [("Retry-After", when)])
        if path == "/slow":
            ms = int(query.partition("=")[2] or "0")
            time.sleep(ms / 1000)
            return self.send_json(200, {"slept_ms": ms})
        if path == "/reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        if path == "/truncated":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b'{"a": "012')
            self.wfile.flush()
            self.close_connection = True
            return
        if path == "/big":
            data = b"x" * 100000
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.send_json(404, {"error": "no route"})


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    # The handshake runs in the request's thread, not in accept().
    def finish_request(self, request, client_address):
        try:
            tls = CTX.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        except (ssl.SSLError, OSError):
            pass
        finally:
            tls.close()

    def handle_error(self, request, client_address):
        pass


class ProxyHandler(socketserver.StreamRequestHandler):
    ANSWERS = {"deny407.test": "407 Proxy Authentication Required",
               "deny403.test": "403 Filtered",
               "down502.test": "502 Bad Gateway"}

    def handle(self):
        line = self.rfile.readline(8192).decode("latin-1").split()
        auth = None
        while True:
            h = self.rfile.readline(8192)
            if h in (b"\r\n", b"\n", b""):
                break
            name, _, value = h.decode("latin-1").partition(":")
            if name.strip().lower() == "proxy-authorization":
                auth = value.strip()
        if len(line) != 3 or line[0] != "CONNECT":
            return self.answer("405 Only CONNECT")
        target = line[1]
        with open(PROXY_LOG, "a") as f:
            f.write("CONNECT %s%s\n" % (target, " auth" if auth else ""))
        host = target.rpartition(":")[0]
        if host in self.ANSWERS:
            return self.answer(self.ANSWERS[host])
        if host == "leaky.test":
            return self.answer("403 Denied for %s" % auth)
        if target != "127.0.0.1:%d" % PORT:
            return self.answer("403 Forbidden")
        up = socket.create_connection(("127.0.0.1", PORT))
        self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        self.wfile.flush()
        self.relay(self.connection, up)

    def answer(self, status):
        self.wfile.write(("HTTP/1.1 %s\r\nContent-Length: 0\r\n\r\n" %
                          status).encode("latin-1"))

    @staticmethod
    def relay(a, b):
        sel = selectors.DefaultSelector()
        sel.register(a, selectors.EVENT_READ, b)
        sel.register(b, selectors.EVENT_READ, a)
        try:
            while True:
                for key, _ in sel.select():
                    data = key.fileobj.recv(65536)
                    if not data:
                        return
                    key.data.sendall(data)
        except OSError:
            pass
        finally:
            b.close()


class Proxy(socketserver.ThreadingTCPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass


def watch_stdin():
    sys.stdin.buffer.read()
    os._exit(0)


if __name__ == "__main__":
    directory, TOKEN = sys.argv[1], sys.argv[2]
    make_certs(directory)
    CTX = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    CTX.load_cert_chain(f"{directory}/server.pem", f"{directory}/server.key")
    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=watch_stdin, daemon=True).start()
    PORT = server.server_address[1]
    PROXY_LOG = f"{directory}/proxy.log"
    proxy = Proxy(("127.0.0.1", 0), ProxyHandler)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    print(f"PORT {PORT}\nPROXY {proxy.server_address[1]}", flush=True)
    server.serve_forever()
