"""UDP GRO/GSO: a client's GSO train (20 datagrams in one send) reaches a
UDP_GRO listening socket coalesced; tcplb relays it as the same 20
datagrams, in order, to the server.  A server answering with a GSO train
reaches the flow's socket coalesced; the client gets the same separate
datagrams.  Nothing is ever merged into one bigger datagram."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from udplib import *


def test(t):
    b = t.add_closer(UdpBackend("E", mode="echo"))
    b.keep_payloads = True
    tr = t.add_closer(UdpBackend("T", mode="train", count=7))
    sock = t.path("admin.sock")
    p1, p2 = free_udp_port(), free_udp_port()
    cfg = """\
global:
  admin_socket: %s
listeners:
  echo:
    bind: 127.0.0.1:%d
    protocol: udp
    pool: e
  train:
    bind: 127.0.0.1:%d
    protocol: udp
    pool: t
pools:
  e:
    servers: [%s]
  t:
    servers: [%s]
""" % (sock, p1, p2, b.hostport, tr.hostport)
    p = t.start_config(cfg)
    c = UdpClient(("127.0.0.1", p1))
    segs = [(b"seg%02d" % i).ljust(1000, b"-") for i in range(19)] + [b"seg19-last"]
    send_train(c.sock, segs, ("127.0.0.1", p1))
    got = []
    while len(got) < 20:
        d, _ = c.recv(2.0)
        if d is None:
            break
        got.append(d)
    t.eq(got, segs, "echoed datagrams (as sent, one by one)")
    t.check(wait_until(lambda: b.stats()["received"] == 20, 2), "server got %d" % b.stats()["received"])
    t.eq(b.payloads, segs, "datagrams at the server")

    c2 = UdpClient(("127.0.0.1", p2))
    c2.send(b"go")
    got = []
    while len(got) < 7:
        d, _ = c2.recv(2.0)
        if d is None:
            break
        got.append(d)
    t.eq(len(got), 7, "datagrams of the server's train")
    t.check(all(len(d) == 500 for d in got), "sizes %r" % [len(d) for d in got])
    t.eq([d.split(b"|")[1] for d in got], [b"%d" % i for i in range(7)], "order")
    js = admin_json(sock, "show sessions")
    by = {s["listener"]: s for s in js["sessions"]}
    t.eq(by["echo"]["datagrams_in"], 20)
    t.eq(by["echo"]["datagrams_out"], 20)
    t.eq(by["train"]["datagrams_out"], 7)


if __name__ == "__main__":
    run(test, timeout=30)
