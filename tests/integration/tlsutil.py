"""TLS helpers for the SNI routing tests: self-signed certificates made
with `openssl req` in the test's temporary directory, `openssl s_server`
backends, and clients (Python's ssl, `openssl s_client`, and a hello sent
one byte per TCP segment) that report which backend's certificate they
saw.  Standard library plus the openssl command only."""

import socket
import ssl
import subprocess
import time

from lib import TestFailure, Skip, connect, free_port, wait_until

__all__ = ["have_openssl", "make_cert", "SServer", "tls_get", "s_client",
           "ext_len_offset", "reframe", "padded_hello",
           "client_hello", "fragmented_handshake", "cert_der"]


def have_openssl():
    try:
        subprocess.run(["openssl", "version"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        raise Skip("the openssl command is not installed")


def make_cert(t, name, sans):
    """A self-signed P-256 certificate for CN=sans[0] with every name of
    sans as a subjectAltName.  Returns (cert path, key path)."""
    cert, key = t.path(name + ".pem"), t.path(name + ".key")
    alt = ",".join("DNS:" + s for s in sans)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                    "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "2",
                    "-subj", "/CN=" + sans[0], "-addext",
                    "subjectAltName=" + alt],
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                   check=True, timeout=30)
    return cert, key


def cert_der(path):
    with open(path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


class SServer:
    """`openssl s_server -www` on a loopback port: completes handshakes
    with its certificate and answers GET with a status page."""

    def __init__(self, t, name, cert, key, alpn=None):
        self.name = name
        self.port = free_port()
        self.hostport = "127.0.0.1:%d" % self.port
        argv = ["openssl", "s_server", "-accept", self.hostport, "-cert", cert,
                "-key", key, "-www", "-quiet", "-naccept", "1000"]
        if alpn:
            argv += ["-alpn", alpn]
        self.log = open(t.path("s_server-%s.log" % name), "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        t.add_closer(self)
        # Ready when the port accepts (the probe's failed handshake is
        # only a line in s_server's log).
        def up():
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return True
            except OSError:
                if self.proc.poll() is not None:
                    raise TestFailure("openssl s_server %s exited" % name)
                return False
        if not wait_until(up, timeout=10):
            raise TestFailure("openssl s_server %s not listening" % name)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(5)
        self.log.close()


def tls_get(addr, sni, cafile, alpn=None, timeout=5.0):
    """Handshake through addr with SNI sni (None: no SNI), trusting only
    cafile (so it succeeds only against that certificate; host names are
    not checked, wildcard depth is the router's business), GET /.  Returns (peer
    certificate DER, selected ALPN, first response line).  Raises
    ssl.SSLError / OSError on failure."""
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = False
    if alpn:
        ctx.set_alpn_protocols(alpn)
    s = connect(addr, timeout=timeout)
    try:
        ts = ctx.wrap_socket(s, server_hostname=sni)
        der = ts.getpeercert(binary_form=True)
        proto = ts.selected_alpn_protocol()
        ts.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = b""
        while b"\n" not in data:
            chunk = ts.recv(4096)
            if not chunk:
                break
            data += chunk
        return der, proto, data.split(b"\r\n")[0].decode("latin-1")
    finally:
        s.close()


def s_client(addr, sni, cafile, timeout=20.0):
    """`openssl s_client -servername sni` through addr.  Returns its
    output (the certificate subject, the verification result, and the
    answer to a GET)."""
    p = subprocess.run(["openssl", "s_client", "-connect",
                        "%s:%d" % addr, "-servername", sni, "-CAfile", cafile,
                        "-verify_return_error", "-ign_eof"],
                       input=b"GET / HTTP/1.0\r\n\r\n", stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=timeout)
    return p.stdout.decode("latin-1")


def _client_obj(sni, cafile=None, alpn=None):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = False
    if cafile is None:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(alpn)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=sni)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return obj, inc, out


def client_hello(sni, alpn=None):
    """The bytes of a ClientHello Python's ssl would send."""
    _, _, out = _client_obj(sni, alpn=alpn)
    return out.read()


def fragmented_handshake(addr, sni, cafile, delay=0.002, timeout=10.0):
    """Send the ClientHello one byte per TCP segment (TCP_NODELAY, a short
    pause between bytes), then finish the handshake normally.  Returns
    (peer certificate DER, bytes of hello sent)."""
    obj, inc, out = _client_obj(sni, cafile=cafile)
    hello = out.read()
    s = connect(addr, timeout=timeout)
    try:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(hello)):
            s.sendall(hello[i:i + 1])
            time.sleep(delay)
        deadline = time.monotonic() + timeout
        while True:
            try:
                obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                pending = out.read()
                if pending:
                    s.sendall(pending)
                if time.monotonic() > deadline:
                    raise TestFailure("handshake did not finish")
                data = s.recv(65536)
                if not data:
                    raise TestFailure("EOF during the handshake")
                inc.write(data)
        pending = out.read()
        if pending:
            s.sendall(pending)
        return obj.getpeercert(binary_form=True), len(hello)
    finally:
        s.close()


def ext_len_offset(hello):
    """Offset of the extensions length in a one-record ClientHello."""
    at = 5 + 4 + 2 + 32
    at += 1 + hello[at]
    at += 2 + int.from_bytes(hello[at:at + 2], "big")
    at += 1 + hello[at]
    return at


def reframe(hello, size):
    """The handshake bytes of a one-record hello cut into records of size
    bytes."""
    hs = hello[5:]
    out = b""
    for i in range(0, len(hs), size):
        part = hs[i:i + size]
        out += hello[:3] + len(part).to_bytes(2, "big") + part
    return out


def padded_hello(sni, total):
    """A hand-made, valid ClientHello of total handshake bytes (server name
    plus a padding extension), in one record when it fits."""
    name = sni.encode()
    sni_ext = (b"\x00\x00" + (len(name) + 5).to_bytes(2, "big") +
               (len(name) + 3).to_bytes(2, "big") + b"\x00" +
               len(name).to_bytes(2, "big") + name)
    fixed = b"\x03\x03" + bytes(32) + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00"
    pad = total - 4 - len(fixed) - 2 - len(sni_ext) - 4
    exts = sni_ext + b"\x00\x15" + pad.to_bytes(2, "big") + bytes(pad)
    body = fixed + len(exts).to_bytes(2, "big") + exts
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    assert len(hs) == total
    return b"\x16\x03\x01" + len(hs).to_bytes(2, "big") + hs
