"""Private CA + server certificate for the emulator, made with the `openssl`
command-line tool (the standard library can use certificates but not sign them).

ensure(tls_dir) -> TlsFiles(ca, cert, key)

Files in tls_dir:
  ca.pem          the CA certificate: what clients trust (--cacert, cafile=)
  ca-key.pem      the CA's private key
  server.pem      the server certificate, signed by the CA; SAN covers
                  IP 127.0.0.1, IP ::1 and DNS localhost
  server-key.pem  the server's private key

An existing set is reused when the certificate still verifies against ca.pem,
is valid for at least another day, names the three SAN entries and matches
its key; otherwise the whole set is made again. Creation holds an flock on
tls_dir/.lock and renames finished files into place, so two emulators
starting together with the same directory do not mix two CAs.
"""

import collections
import fcntl
import os
import shutil
import ssl
import subprocess
import tempfile

TlsFiles = collections.namedtuple("TlsFiles", "ca cert key")

CA_DAYS = 3650
CERT_DAYS = 3650
SAN = "IP:127.0.0.1,IP:::1,DNS:localhost"

_CA_EXT = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = neuprint-emu private CA
O = neuprint-emu
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
"""

_SRV_EXT = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = localhost
O = neuprint-emu
[v3_srv]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = %s
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer
""" % SAN


class TlsError(Exception):
    pass


def _openssl(args, cwd):
    try:
        p = subprocess.run(["openssl"] + args, cwd=cwd, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    except FileNotFoundError:
        raise TlsError("the `openssl` command is needed to make the private CA "
                       "(Debian package openssl)")
    if p.returncode != 0:
        raise TlsError("openssl %s failed: %s" % (args[0], p.stderr.decode("utf-8", "replace").strip()))
    return p.stdout.decode("utf-8", "replace")


def _paths(d):
    return TlsFiles(os.path.join(d, "ca.pem"), os.path.join(d, "server.pem"),
                    os.path.join(d, "server-key.pem"))


def valid(tls_dir):
    """True when tls_dir holds a usable CA + server certificate + key."""
    f = _paths(tls_dir)
    if not all(os.path.isfile(p) for p in f) or not os.path.isfile(os.path.join(tls_dir, "ca-key.pem")):
        return False
    try:
        _openssl(["verify", "-CAfile", f.ca, f.cert], tls_dir)
        _openssl(["x509", "-in", f.cert, "-noout", "-checkend", "86400"], tls_dir)
        _openssl(["x509", "-in", f.ca, "-noout", "-checkend", "86400"], tls_dir)
        san = _openssl(["x509", "-in", f.cert, "-noout", "-ext", "subjectAltName"], tls_dir)
        for want in ("IP Address:127.0.0.1", "IP Address:0:0:0:0:0:0:0:1", "DNS:localhost"):
            if want not in san:
                return False
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(f.cert, f.key)        # key matches certificate
        ctx2 = ssl.create_default_context(cafile=f.ca)
        del ctx, ctx2
    except (TlsError, ssl.SSLError, OSError):
        return False
    return True


def _create(tls_dir):
    tmp = tempfile.mkdtemp(prefix=".mk-", dir=tls_dir)
    try:
        with open(os.path.join(tmp, "ca.cnf"), "w") as fh:
            fh.write(_CA_EXT)
        with open(os.path.join(tmp, "srv.cnf"), "w") as fh:
            fh.write(_SRV_EXT)
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        _openssl(["req", "-x509", "-config", "ca.cnf", "-extensions", "v3_ca", "-sha256",
                  "-days", str(CA_DAYS), "-keyout", "ca-key.pem", "-out", "ca.pem"] + ec, tmp)
        _openssl(["req", "-new", "-config", "srv.cnf", "-keyout", "server-key.pem",
                  "-out", "server.csr"] + ec, tmp)
        _openssl(["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
                  "-set_serial", "0x" + os.urandom(12).hex(), "-sha256",
                  "-days", str(CERT_DAYS), "-extfile", "srv.cnf", "-extensions", "v3_srv",
                  "-out", "server.pem"], tmp)
        for name in ("ca-key.pem", "server-key.pem"):
            os.chmod(os.path.join(tmp, name), 0o600)
        # keys first, ca.pem last: a reader that sees the new ca.pem sees the rest
        for name in ("ca-key.pem", "server-key.pem", "server.pem", "ca.pem"):
            os.replace(os.path.join(tmp, name), os.path.join(tls_dir, name))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def ensure(tls_dir):
    """Make (or reuse) the CA and server certificate in tls_dir; returns TlsFiles."""
    # openssl runs with cwd set to a scratch directory: relative paths would break.
    tls_dir = os.path.abspath(tls_dir)
    os.makedirs(tls_dir, exist_ok=True)
    with open(os.path.join(tls_dir, ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not valid(tls_dir):
                _create(tls_dir)
                if not valid(tls_dir):
                    raise TlsError("made a certificate in %s but it does not verify" % tls_dir)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return _paths(tls_dir)


def server_context(files):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(files.cert, files.key)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx
