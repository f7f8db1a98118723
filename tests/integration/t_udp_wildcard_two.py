"""One client port, two addresses of one wildcard UDP listener (an NTP
client on port 123 asking two server addresses, a forwarder with a fixed
query port): each address is a flow of its own, and every reply leaves
from the address its query went to -- not from the one the client used
first (a client drops a reply from an address it never asked)."""
import sys, os, socket
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from udplib import *


def test(t):
    b = t.add_closer(UdpBackend("A"))
    port = free_udp_port("0.0.0.0")
    sock = t.path("admin.sock")
    cfg = """\
global:
  admin_socket: %s
listeners:
  any:
    bind: 0.0.0.0:%d
    protocol: udp
    pool: p
pools:
  p:
    servers: [%s]
""" % (sock, port, b.hostport)
    t.start_config(cfg, extra=["-w", "1"])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.9", 0))
    s.settimeout(2.0)
    for rnd in range(2):
        for dst in ("127.0.0.1", "127.0.0.2", "127.0.0.3"):
            s.sendto(b"q-" + dst.encode(), (dst, port))
            d, frm = s.recvfrom(65535)
            t.eq(d, b"A|q-" + dst.encode(), "reply to the query sent to %s" % dst)
            t.eq(frm[0], dst, "source of the reply to a query sent to %s (round %d)" % (dst, rnd))
    s.close()
    l = admin_json(sock, "show listeners")["listeners"][0]
    t.eq(l["total"], 3, "one flow per (client, listener address)")


if __name__ == "__main__":
    run(test, timeout=30)
