"""global.max_connections bounds UDP flows too ("open client connections
over all listeners together"; the descriptor limit is sized from it).
A spoofed flood from many 127/8 sources on a UDP listener without a
limit of its own must stop at the global limit, the rest counted as
flow_limit drops."""
import sys, os, socket
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from udplib import *

GMAX = 50


def test(t):
    a = t.add_closer(UdpBackend("A"))
    port = free_udp_port()
    sock = t.path("admin.sock")
    cfg = """\
global:
  admin_socket: %s
  max_connections: %d
listeners:
  u:
    bind: 127.0.0.1:%d
    protocol: udp
    pool: p
pools:
  p:
    idle_timeout: 30s
    servers: [%s]
""" % (sock, GMAX, port, a.hostport)
    p = t.start_config(cfg, extra=["-w", "2"])
    target = ("127.0.0.1", port)
    base = p.fd_count()

    def listener():
        return admin_json(sock, "show listeners")["listeners"][0]

    for i in range(300):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.4.%d.%d" % (i // 200 + 1, i % 200 + 1), 0))
        s.sendto(b"x", target)
        s.close()
    t.check(wait_until(lambda: listener()["active"] + listener()["dropped"]["flow_limit"] >= 300, 5),
            "not all datagrams seen: %r" % listener())
    l = listener()
    t.eq(l["active"], GMAX, "flows open beyond global max_connections")
    t.eq(l["dropped"]["flow_limit"], 300 - GMAX, "flow_limit drops")
    t.check(p.fd_count() <= base + GMAX + 5, "fds %d, baseline %d" % (p.fd_count(), base))


if __name__ == "__main__":
    run(test, timeout=60)
