"""UDP on wildcard binds: a client that sent to 127.0.0.2 or 127.0.0.3 on
a 0.0.0.0 listener gets its replies from exactly that address (a client
such as dig or a NAT drops replies from another one), and the same on
[::] for ::1; an IPv6 client through an IPv6 listener to an IPv6 server."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from udplib import *


def test(t):
    b = t.add_closer(UdpBackend("A"))
    port = free_udp_port("0.0.0.0")
    v6 = have_ipv6()
    binds = '["0.0.0.0:%d"%s]' % (port, ', "[::]:%d"' % port if v6 else "")
    cfg = """\
listeners:
  any:
    bind: %s
    protocol: udp
    pool: p
pools:
  p:
    servers: [%s]
""" % (binds, b.hostport)
    p = t.start_config(cfg, extra=["-w", "3"])
    for dst in ("127.0.0.1", "127.0.0.2", "127.0.0.3"):
        c = UdpClient((dst, port))
        for k in range(3):
            r, frm = c.ask(b"x%d" % k)
            t.check(r == b"A|x%d" % k, "reply via %s: %r" % (dst, r))
            t.eq(frm[0], dst, "source of the reply to a datagram sent to %s" % dst)
        # a burst: replies may leave batched (GSO trains), still from dst
        for k in range(40):
            c.send(b"%03d" % k + b"z" * 1000)
        got = 0
        while got < 40:
            d, frm = c.recv(2.0)
            t.check(d is not None, "burst via %s: %d of 40 replies" % (dst, got))
            t.eq(frm[0], dst, "source of a burst reply sent to %s" % dst)
            got += 1
        c.close()
    if not v6:
        t.log("no IPv6: skipping the [::] part")
        return
    c = UdpClient(("::1", port))
    r, frm = c.ask(b"six")
    t.eq(r, b"A|six", "reply over IPv6")
    t.eq(frm[0], "::1", "IPv6 reply source")
    c.close()
    p.stop()

    # IPv6 all the way: listener and server on ::1
    b6 = t.add_closer(UdpBackend("B6", host="::1"))
    q = t.start_quick([b6.hostport], extra=["--udp", "-l", "[::1]:0"])
    c = UdpClient(("::1", q.addr[1]))
    r, frm = c.ask(b"v6")
    t.eq(r, b"B6|v6", "IPv6 to IPv6")
    t.eq(b6.stats()["received"], 1)
    c.close()


if __name__ == "__main__":
    run(test, timeout=40)
