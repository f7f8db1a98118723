"""proxy_protocol on a pool or a server: the server first receives a v1 or
v2 header with the client's address and port and the address the client
connected to (IPv4 and IPv6), then the client's bytes unchanged; a
server's own setting overrides its pool's ("none" turns it off); with a
server that speaks first, the header still arrives alone at once; health
checks with send_proxy send v2 LOCAL (v1 UNKNOWN to a v1 server)."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from proxylib import *

CFG = """\
global:
  workers: 2
listeners:
  l1:
    bind: ["127.0.0.1:%(p1)d"%(bind6)s]
    pool: v1pool
  l2: {bind: "127.0.0.1:%(p2)d", pool: v2pool}
  l3: {bind: "127.0.0.1:%(p3)d", pool: override}
  l4: {bind: "127.0.0.1:%(p4)d", pool: off}
  l5: {bind: "127.0.0.1:%(p5)d", pool: banner}
pools:
  v1pool:
    proxy_protocol: v1
    health_check: {interval: 100ms, send_proxy: true}
    servers: ["%(hb1)s"]
  v2pool:
    proxy_protocol: v2
    health_check: {interval: 100ms, send_proxy: true}
    servers: ["%(hb2)s"]
  override:
    proxy_protocol: v1
    servers: [{address: "%(hb3)s", proxy_protocol: v2}]
  off:
    proxy_protocol: v2
    servers: [{address: "%(hb4)s", proxy_protocol: none}]
  banner:
    proxy_protocol: v2
    servers: ["%(banner)s"]
"""


def banner_handler(c, backend):
    """A server that speaks first -- once the header has arrived."""
    h = read_header(c, timeout=3)
    backend.record(h)
    c.sendall(("220 " + header_line(h) + "\n").encode())
    c.settimeout(3)
    try:
        c.recv(100)
    except OSError:
        pass


def via(t, addr, payload, source=None):
    s = connect(addr, source=source)
    t.add_closer(s)
    s.sendall(payload)
    line = recv_line(s, 5)
    got = recv_exact(s, len(payload)) if payload else b""
    return s, line, got


def test(t):
    hbs = [t.thread_backend(header_handler, name="hb%d" % i) for i in range(1, 5)]
    banner = t.thread_backend(banner_handler, name="banner")
    ports = [free_port() for _ in range(5)]
    six = have_ipv6()
    p6 = free_port("::1") if six else 0
    d = dict(("p%d" % (i + 1), p) for i, p in enumerate(ports))
    d.update(("hb%d" % (i + 1), b.hostport) for i, b in enumerate(hbs))
    d["banner"] = banner.hostport
    d["bind6"] = (', "[::1]:%d"' % p6) if six else ""
    lb = t.start_config(CFG % d)

    # v1, client bound to 127.0.0.5: the header names it and its port,
    # and the listener address as destination.
    try:
        s, line, got = via(t, ("127.0.0.1", ports[0]), b"hello v1", source="127.0.0.5")
        src = "127.0.0.5"
    except OSError:
        s, line, got = via(t, ("127.0.0.1", ports[0]), b"hello v1")
        src = "127.0.0.1"
    cport = s.getsockname()[1]
    t.eq(line, "v1 %s %d 127.0.0.1 %d" % (src, cport, ports[0]))
    t.eq(got, b"hello v1", "client bytes after the header")

    # v2
    s, line, got = via(t, ("127.0.0.1", ports[1]), b"hello v2")
    t.eq(line, "v2 127.0.0.1 %d 127.0.0.1 %d" % (s.getsockname()[1], ports[1]))
    t.eq(got, b"hello v2")

    # IPv6 client: TCP6
    if six:
        s, line, got = via(t, ("::1", p6), b"six")
        t.eq(line, "v1 ::1 %d ::1 %d" % (s.getsockname()[1], p6))
        t.eq(got, b"six")

    # the server's own proxy_protocol wins
    s, line, got = via(t, ("127.0.0.1", ports[2]), b"ov")
    t.eq(line, "v2 127.0.0.1 %d 127.0.0.1 %d" % (s.getsockname()[1], ports[2]))
    s = connect(("127.0.0.1", ports[3]))
    t.add_closer(s)
    s.sendall(b"plain")
    t.eq(recv_line(s, 5), "NONE b'p'", "proxy_protocol: none sends no header")
    t.eq(recv_exact(s, 4), b"lain")

    # server speaks first: the client sends nothing, the header goes
    # alone right after connect and the banner comes back
    s = connect(("127.0.0.1", ports[4]))
    t.add_closer(s)
    line = recv_line(s, 5)
    t.eq(line, "220 v2 127.0.0.1 %d 127.0.0.1 %d" % (s.getsockname()[1], ports[4]))

    # health checks: LOCAL on v2, UNKNOWN on v1
    t.check(wait_until(lambda: ("LOCAL",) in hbs[1].results, 5), "v2 pool: no LOCAL check")
    t.check(wait_until(lambda: ("UNKNOWN",) in hbs[0].results, 5), "v1 pool: no UNKNOWN check")
    t.check(all(r in (("LOCAL",), ("EOF",)) or r[0] == "v2" for r in hbs[1].results),
            "v2 pool got %s" % hbs[1].results)
    for b in hbs + [banner]:
        t.check(not b.errors, "%s: %s" % (b.name, b.errors))


run(test)
