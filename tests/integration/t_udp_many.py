"""Many UDP flows and a full flow table.  With 4 workers, 400 clients from
400 addresses send 3 datagrams each: exactly 400 flows (the reuseport
steering brings every datagram of a flow to the worker that owns it),
each on one server.  Then 10,000 concurrent flows from sources all over
127.0.0.0/8; with max_connections reached, datagrams of new clients are
dropped and counted (flow_limit) while open flows keep working; when
they end (idle_timeout), the descriptor count is back to its baseline."""
import sys, os, re, socket
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from udplib import *

N = 10000


def src(i):
    # 127.1.0.1 ... spread over /8 (never .0 or .255)
    return "127.%d.%d.%d" % (1 + i // 60000, (i // 250) % 240 + 1, i % 250 + 1)


def test(t):
    raise_nofile(4096)
    a = t.add_closer(UdpBackend("A"))
    b = t.add_closer(UdpBackend("B"))
    port = free_udp_port()
    sock = t.path("admin.sock")
    limit = 400 + N
    cfg = """\
global:
  admin_socket: %s
listeners:
  u:
    bind: 127.0.0.1:%d
    protocol: udp
    max_connections: %d
    pool: p
pools:
  p:
    idle_timeout: 3s
    servers: [%s, %s]
""" % (sock, port, limit, a.hostport, b.hostport)
    p = t.start_config(cfg, extra=["-w", "4"])
    target = ("127.0.0.1", port)
    base = p.fd_count()

    def listener():
        return admin_json(sock, "show listeners")["listeners"][0]

    # 1) steering: 400 clients x 3 datagrams = 400 flows, one server each
    clients = [UdpClient(target, source="127.2.%d.%d" % (i // 200 + 1, i % 200 + 1)) for i in range(400)]
    for rnd in range(3):
        for c in clients:
            c.send(b"r%d" % rnd)
        for i, c in enumerate(clients):
            d, _ = c.recv(2.0)
            t.check(d is not None, "client %d round %d: no reply" % (i, rnd))
            name = d.split(b"|")[0]
            if rnd == 0:
                c.name = name
            t.eq(name, c.name, "client %d stays on its server" % i)
    l = listener()
    t.eq(l["total"], 400, "flows for 400 clients on 4 workers")
    t.eq(l["datagrams_in"], 1200)

    # 2) 10,000 more flows, from 10,000 addresses (one socket at a time:
    # a flow lives on in tcplb after its client socket is gone)
    t0 = time.monotonic()
    for i in range(N):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((src(i), 0))
        s.sendto(b"x", target)
        s.close()
    t.check(wait_until(lambda: listener()["active"] == limit, 10),
            "active flows %d, want %d" % (listener()["active"], limit))
    t.log("%d flows open after %.2fs; fds %d (baseline %d)" % (limit, time.monotonic() - t0,
                                                              p.fd_count(), base))
    t.check(p.fd_count() >= base + limit - 5, "one socket per flow")

    # 3) the table is full: new clients are dropped and counted, the
    # open flows go on
    for i in range(200):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.3.0.%d" % (i + 1), 0))
        s.sendto(b"x", target)
        s.close()
    t.check(wait_until(lambda: listener()["dropped"]["flow_limit"] == 200, 3),
            "flow_limit drops: %r" % listener()["dropped"])
    t.check(p.wait_stderr(r"listener u: %d flows open \(max_connections\): datagrams of new clients dropped" % limit, 2),
            "a full flow table is not logged")
    t.check(len(re.findall(r"datagrams of new clients dropped", p.stderr())) <= 2,
            "the full-table record is not rate limited")
    for c in clients[:20]:
        r, _ = c.ask(b"still")
        t.check(r is not None and r.endswith(b"|still"), "an open flow stopped working when the table was full")
    for c in clients:
        c.close()

    # 4) all idle: every flow ends, descriptors back to the baseline
    t.check(wait_until(lambda: listener()["active"] == 0, 10), "flows left: %d" % listener()["active"])
    t.check(wait_until(lambda: p.fd_count() <= base, 3), "fds %d, baseline %d" % (p.fd_count(), base))
    t.log("rss %d kB after all flows ended" % p.rss_kb())


if __name__ == "__main__":
    run(test, timeout=90)
