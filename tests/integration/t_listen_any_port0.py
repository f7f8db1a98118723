"""'*:0': IPv4 and IPv6 sockets share the one port that is printed, so a
client reaches it over either family; in a file, a reload keeps both
sockets (none is closed and bound again)."""
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
    lb.stop()

    lb = t.start_config("""\
listeners:
  any: {bind: "*:0", pool: p}
pools:
  p:
    servers: ["%s"]
""" % a.hostport)
    m = lb.wait_stderr(r"listening on 0\.0\.0\.0:(\d+)")
    t.check(m is not None, "no 'listening on' log line")
    port = int(m.group(1))
    before = listen_inodes(port)
    t.check(len(before) >= 2, "expected IPv4 and IPv6 sockets on %d: %r" % (port, before))
    for _ in range(3):
        t.reload(lb)
    t.eq(listen_inodes(port), before, "listening sockets after 3 reloads")
    t.eq(t.identify(("::1", port)), "A", "IPv6 after reloads")


run(test)
