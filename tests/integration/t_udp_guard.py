"""Edge protection on a UDP listener applies to new flows: a denied
source's datagrams are dropped (counted as refused, by guard reason too),
max_connections_per_source caps the flows of one address, and
rate_limit caps new flows per second per source; datagrams of flows
already open are never refused, also past a `tcplb ctl drain` deadline.
A pool's `source:` is the address its flows come from."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from udplib import *


def test(t):
    a = t.add_closer(UdpBackend("A"))
    sock = t.path("admin.sock")
    b = t.add_closer(UdpBackend("B"))
    p1, p2, p3, p4 = free_udp_port(), free_udp_port(), free_udp_port(), free_udp_port()
    cfg = """\
global:
  admin_socket: %s
listeners:
  acl:
    bind: 127.0.0.1:%d
    protocol: udp
    deny: ["127.0.0.5/32"]
    pool: p
  persrc:
    bind: 127.0.0.1:%d
    protocol: udp
    max_connections_per_source: 2
    pool: p
  rate:
    bind: 127.0.0.1:%d
    protocol: udp
    rate_limit: { per_source: 1/s, burst: 3 }
    pool: p
  src:
    bind: 127.0.0.1:%d
    protocol: udp
    pool: ps
pools:
  p:
    servers: [%s]
  ps:
    source: 127.0.0.7
    servers: [%s]
""" % (sock, p1, p2, p3, p4, a.hostport, b.hostport)
    p = t.start_config(cfg)

    def lsn(name):
        return [l for l in admin_json(sock, "show listeners")["listeners"] if l["name"] == name][0]

    ok = UdpClient(("127.0.0.1", p1), source="127.0.0.4")
    t.eq(ok.ask(b"a")[0], b"A|a", "allowed source")
    bad = UdpClient(("127.0.0.1", p1), source="127.0.0.5", timeout=0.3)
    for _ in range(3):
        t.eq(bad.ask(b"b")[0], None, "denied source answered")
    t.eq(lsn("acl")["dropped"]["refused"], 3, "denied datagrams counted")
    t.eq(a.stats()["received"], 1, "denied datagrams reached the server")

    cs = [UdpClient(("127.0.0.1", p2), source="127.0.0.6", timeout=0.3) for _ in range(3)]
    t.eq(cs[0].ask(b"1")[0], b"A|1")
    t.eq(cs[1].ask(b"2")[0], b"A|2")
    t.eq(cs[2].ask(b"3")[0], None, "a third flow from one address")
    for _ in range(5):
        t.eq(cs[0].ask(b"again")[0], b"A|again", "an open flow at the per-source limit")
    t.eq(lsn("persrc")["dropped"]["refused"], 1)

    answered = 0
    rs = [UdpClient(("127.0.0.1", p3), source="127.0.0.7", timeout=0.3) for _ in range(6)]
    for c in rs:
        answered += c.ask(b"r")[0] is not None
    t.eq(answered, 3, "new flows within the burst of 3")
    t.eq(lsn("rate")["dropped"]["refused"], 3)
    # tcplb ctl drain with a deadline: after it, open flows go on and
    # new clients are dropped (counted as draining); undrain resumes
    held = UdpClient(("127.0.0.1", p1), source="127.0.0.8")
    t.eq(held.ask(b"h")[0], b"A|h")
    rc, out, err = t.ctl(sock, "drain", "--deadline", "200ms")
    t.eq(rc, 0, "ctl drain: %s" % err)
    t.check(p.wait_stderr(r"drain deadline passed", 5), "deadline logged")
    t.eq(held.ask(b"h2")[0], b"A|h2", "an open flow after the drain deadline")
    late = UdpClient(("127.0.0.1", p1), source="127.0.0.9", timeout=0.3)
    t.eq(late.ask(b"n")[0], None, "a new flow after the drain deadline")
    t.eq(lsn("acl")["dropped"]["draining"], 1)
    rc, out, err = t.ctl(sock, "undrain")
    t.eq(rc, 0)
    t.eq(late.ask(b"n2")[0], b"A|n2", "a new flow after undrain")
    # a pool's `source:` is where its flows come from at the server
    cs_ = UdpClient(("127.0.0.1", p4))
    t.eq(cs_.ask(b"s")[0], b"B|s")
    t.eq([k[0] for k in b.stats()["peers"]], ["127.0.0.7"], "flow source address")
    info = admin_send(sock, "show info")
    t.check(p.wait_stderr(r"refused .*127\.0\.0\.5", 2) or "denied" in info, "refusal logged")


if __name__ == "__main__":
    run(test, timeout=30)
