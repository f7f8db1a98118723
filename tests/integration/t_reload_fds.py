"""100 reloads (adding and removing a listener, swapping backends) leave
the descriptor count unchanged."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def cfg(ports, backend):
    out = "listeners:\n"
    for i, p in enumerate(ports):
        out += "  l%d:\n    bind: 127.0.0.1:%d\n    pool: p\n" % (i, p)
    out += "pools:\n  p:\n    servers:\n      - %s\n" % backend
    return out


def test(t):
    a = t.identify_backend("A")
    b = t.identify_backend("B")
    p1, p2 = free_port(), free_port()
    cfg_x = cfg([p1], a.hostport)
    cfg_y = cfg([p1, p2], b.hostport)
    lb = t.start_config(cfg_x)
    t.eq(t.identify(("127.0.0.1", p1)), "A", "served")
    t.reload(lb, cfg_y)
    t.eq(t.identify(("127.0.0.1", p2)), "B", "served by the second listener")
    t.reload(lb, cfg_x)
    t.eq(t.identify(("127.0.0.1", p1)), "A", "served")
    time.sleep(0.3)
    base = lb.fd_count()
    t.log("baseline after 2 reloads: %d fds" % base)
    t0 = time.monotonic()
    for i in range(100):
        t.reload(lb, cfg_y if i % 2 == 0 else cfg_x)
        if i % 10 == 9:
            want = "A" if i % 2 else "B"
            t.eq(t.identify(("127.0.0.1", p1)), want, "after reload %d" % (i + 1))
    t.log("100 reloads in %.2fs" % (time.monotonic() - t0))
    ok = wait_until(lambda: lb.fd_count() == base, 3, 0.1)
    after = lb.fd_count()
    if not ok:
        t.log("fds now:", sorted(lb.fds().items()))
    t.eq(after, base, "fd count after 100 reloads")


run(test, timeout=120)
