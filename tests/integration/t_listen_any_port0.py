"""Quick mode with -l '*:0': IPv4 and IPv6 sockets share the one port that
is printed, so a client reaches it over either family."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def test(t):
    if not have_ipv6():
        raise Skip("no ::1")
    a = t.identify_backend("A")
    lb = t.start_quick([a.hostport], extra=["-l", "*:0"])
    port = lb.addr[1]
    t.eq(t.identify(("127.0.0.1", port)), "A", "IPv4 on the printed port")
    t.eq(t.identify(("::1", port)), "A", "IPv6 on the printed port")


run(test)
