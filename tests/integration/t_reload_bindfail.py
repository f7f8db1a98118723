"""A reload whose new listener cannot bind rolls back: the old listeners and
pools keep serving, the service stays up; once the port is free the same
file reloads fine."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def cfg(listeners, backend):
    out = "listeners:\n"
    for name, port in listeners:
        out += "  %s:\n    bind: 127.0.0.1:%d\n    pool: p\n" % (name, port)
    out += "pools:\n  p:\n    servers:\n      - %s\n" % backend
    return out


def test(t):
    a = t.identify_backend("A")
    b = t.identify_backend("B")
    p1, p2 = free_port(), free_port()
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", p2))
    blocker.listen(1)
    lb = t.start_config(cfg([("one", p1)], a.hostport))
    t.eq(t.identify(("127.0.0.1", p1)), "A", "before")
    inodes = listen_inodes(p1)
    new = cfg([("one", p1), ("two", p2)], b.hostport)
    msgs = t.reload(lb, new)
    t.log("failed reload datagrams:", msgs)
    status = [l for m in msgs for l in m.split("\n") if l.startswith("STATUS=")]
    t.check(lb.alive(), "tcplb exited on a bind failure during reload")
    for i in range(4):
        t.eq(t.identify(("127.0.0.1", p1)), "A",
             "connection #%d after the failed reload (must still use the old pool)" % i)
    if inodes:
        t.eq(listen_inodes(p1), inodes, "listening socket of the unchanged listener")
    t.check(any(str(p2) in l or "bind" in l.lower() or "in use" in l.lower() for l in status),
            "STATUS= after the failed reload does not mention the bind failure: %s" % status)
    t.check(lb.wait_stderr(r"%d" % p2, timeout=1), "stderr does not mention port %d" % p2)
    blocker.close()
    t.reload(lb, new)
    t.eq(t.identify(("127.0.0.1", p1)), "B", "after the port was freed and reloaded")
    t.eq(t.identify(("127.0.0.1", p2)), "B", "the new listener")


run(test)
