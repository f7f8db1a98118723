"""PROXY protocol helpers for the integration tests (t_proxy_*.py, t_acl.py,
t_limit_*.py): build v1/v2 headers as a client would, and a backend that
parses the header tcplb sends and answers with what it saw.

A "header backend" connection answers one line:
    "<version> <src-ip> <src-port> <dst-ip> <dst-port> <first bytes, repr>\\n"
or "NONE <first bytes, repr>\\n" when the first bytes are not a header, or
"LOCAL ..." / "UNKNOWN ..." for those forms; then it echoes.
"""

import ipaddress
import socket
import struct

from lib import recv_exact

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v1(src, sport, dst, dport):
    fam = "TCP6" if ":" in src else "TCP4"
    return ("PROXY %s %s %s %d %d\r\n" % (fam, src, dst, sport, dport)).encode()


def v2(src, sport, dst, dport, tlvs=b"", cmd=1):
    s = ipaddress.ip_address(src)
    d = ipaddress.ip_address(dst)
    if s.version == 4:
        fam = 0x11
        body = s.packed + d.packed + struct.pack("!HH", sport, dport)
    else:
        fam = 0x21
        body = s.packed + d.packed + struct.pack("!HH", sport, dport)
    body += tlvs
    return V2_SIG + bytes([0x20 | cmd, fam]) + struct.pack("!H", len(body)) + body


def v2_local():
    return V2_SIG + b"\x20\x00\x00\x00"


def read_header(c, timeout=5.0):
    """Read a PROXY header from c (exactly its bytes).  Returns
    (kind, src, sport, dst, dport) with kind 'v1', 'v2', 'LOCAL',
    'UNKNOWN', or ('NONE', first_bytes)."""
    c.settimeout(timeout)
    first = c.recv(1)
    if not first:
        return ("EOF",)
    if first == b"P":
        line = first
        while not line.endswith(b"\r\n") and len(line) < 107:
            b = c.recv(1)
            if not b:
                break
            line += b
        parts = line.decode("ascii", "replace").strip().split(" ")
        if len(parts) >= 2 and parts[0] == "PROXY" and parts[1] == "UNKNOWN":
            return ("UNKNOWN",)
        if len(parts) == 6 and parts[0] == "PROXY":
            return ("v1", parts[2], int(parts[4]), parts[3], int(parts[5]))
        return ("NONE", line)
    if first == b"\r":
        rest = recv_exact(c, 15, timeout)
        hdr = first + rest
        if hdr[:12] != V2_SIG:
            return ("NONE", hdr)
        body = recv_exact(c, struct.unpack("!H", hdr[14:16])[0], timeout) \
            if struct.unpack("!H", hdr[14:16])[0] else b""
        if hdr[12] == 0x20:
            return ("LOCAL",)
        if hdr[13] == 0x11:
            return ("v2", str(ipaddress.ip_address(body[0:4])), struct.unpack("!H", body[8:10])[0],
                    str(ipaddress.ip_address(body[4:8])), struct.unpack("!H", body[10:12])[0])
        if hdr[13] == 0x21:
            return ("v2", str(ipaddress.ip_address(body[0:16])), struct.unpack("!H", body[32:34])[0],
                    str(ipaddress.ip_address(body[16:32])), struct.unpack("!H", body[34:36])[0])
        return ("v2?", hdr[13])
    return ("NONE", first)


def header_handler(c, backend):
    """ThreadBackend handler: read the header, record it, answer one line
    describing it, then echo."""
    h = read_header(c)
    backend.record(h)
    c.sendall((" ".join(str(x) for x in h) + "\n").encode())
    c.settimeout(5)
    while True:
        try:
            d = c.recv(65536)
        except OSError:
            return
        if not d:
            return
        c.sendall(d)


def header_line(h):
    return " ".join(str(x) for x in h)
