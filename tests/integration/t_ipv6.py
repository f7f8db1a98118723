"""IPv6: listen on [::1] with an IPv4 backend, and listen on IPv4 with a
[::1] backend."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def test(t):
    if not have_ipv6():
        raise Skip("::1 is not available")
    b4 = t.identify_backend("V4", host="127.0.0.1")
    b6 = t.identify_backend("V6", host="::1")

    lb = t.start_quick([b4.hostport], extra=["-l", "[::1]:0"])
    t.eq(lb.addr[0], "::1", "listening address printed")
    t.check(lb.addr[1] != 0, "port 0 printed instead of the bound port")
    for i in range(3):
        t.eq(t.identify(lb.addr), "V4", "[::1] listener -> IPv4 backend #%d" % i)
    s = connect(lb.addr)
    t.eq(recv_line(s), "V4", "identify line")
    t.check(t.echo_ok(s, b"six-to-four" * 100), "echo through [::1] -> 127.0.0.1")
    s.close()

    lb2 = t.start_quick([b6.hostport], extra=["-l", "127.0.0.1:0"])
    t.eq(lb2.addr[0], "127.0.0.1", "listening address printed")
    for i in range(3):
        t.eq(t.identify(lb2.addr), "V6", "IPv4 listener -> [::1] backend #%d" % i)
    s = connect(lb2.addr)
    t.eq(recv_line(s), "V6", "identify line")
    t.check(t.echo_ok(s, b"four-to-six" * 100), "echo through 127.0.0.1 -> [::1]")
    s.close()

    # both kinds of backend in one pool
    lb3 = t.start_quick([b4.hostport, b6.hostport], extra=["-l", "[::1]:0", "-w", "1"])
    names = sorted(t.identify(lb3.addr) for _ in range(4))
    t.eq(names, ["V4", "V4", "V6", "V6"], "mixed pool")


run(test)
