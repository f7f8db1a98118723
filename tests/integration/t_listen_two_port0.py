"""Two listeners on "127.0.0.1:0": each gets its own port and serves only
its own pool, and a reload keeps each on its port."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def test(t):
    a = t.identify_backend("A")
    b = t.identify_backend("B")
    cfg = """\
listeners:
  la: {bind: "127.0.0.1:0", pool: pa}
  lb: {bind: "127.0.0.1:0", pool: pb}
pools:
  pa: {servers: ["%s"]}
  pb: {servers: ["%s"]}
""" % (a.hostport, b.hostport)
    lb = t.start_config(cfg)

    def ports():
        # The log thread writes these lines; READY=1 does not wait for it.
        rx = r"listener (l[ab]): listening on 127\.0\.0\.1:(\d+)"
        t.check(wait_until(lambda: len(dict(re.findall(rx, lb.stderr()))) == 2, 5),
                "no 'listening on' line for both listeners")
        found = dict(re.findall(rx, lb.stderr()))
        return int(found["la"]), int(found["lb"])
    pa, pb = ports()
    t.log("la on %d, lb on %d" % (pa, pb))
    t.check(pa != pb, "two listeners on host:0 share port %d" % pa)
    for i in range(10):
        t.eq(t.identify(("127.0.0.1", pa)), "A", "listener la #%d" % i)
        t.eq(t.identify(("127.0.0.1", pb)), "B", "listener lb #%d" % i)
    inodes = (listen_inodes(pa), listen_inodes(pb))
    t.reload(lb)
    t.eq((listen_inodes(pa), listen_inodes(pb)), inodes, "sockets after a reload")
    for i in range(5):
        t.eq(t.identify(("127.0.0.1", pa)), "A", "listener la after reload #%d" % i)
        t.eq(t.identify(("127.0.0.1", pb)), "B", "listener lb after reload #%d" % i)


run(test)
