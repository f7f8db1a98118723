"""SIGHUP in quick mode (no configuration file) does not kill tcplb nor
disturb it; SIGPIPE-prone traffic does not kill it either."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def test(t):
    a = t.identify_backend("A")
    b = t.identify_backend("B")
    lb = t.start_quick([a.hostport, b.hostport], extra=["-w", "1"])
    s, n = t.hold(lb.addr)
    t.check(n in ("A", "B"), "served")
    for i in range(3):
        lb.signal(signal.SIGHUP)
        time.sleep(0.2)
        t.check(lb.alive(), "tcplb died of SIGHUP #%d in quick mode (status %s)" % (i, lb.proc.returncode))
    names = sorted(t.identify(lb.addr) for _ in range(4))
    t.eq(names, ["A", "A", "B", "B"], "serving after SIGHUP")
    t.check(t.echo_ok(s, b"still here"), "open session after SIGHUP")
    s.close()
    t.eq(lb.stop(), 0, "exit status")


run(test)
