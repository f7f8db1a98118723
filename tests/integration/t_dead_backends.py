"""Two refusing backends and one live one: every client is served by the
live one, each within 1 s."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def test(t):
    live = t.identify_backend("LIVE")
    dead = ["127.0.0.1:%d" % refused_port() for _ in range(2)]
    # live last, so the first picks must skip the dead ones
    lb = t.start_quick(dead + [live.hostport])
    worst = 0.0
    for i in range(20):
        t0 = time.monotonic()
        name = t.identify(lb.addr, timeout=2)
        dt = time.monotonic() - t0
        worst = max(worst, dt)
        t.eq(name, "LIVE", "client #%d served by" % i)
        t.check(dt < 1.0, "client #%d took %.2fs" % (i, dt))
    t.log("20 clients served by the live backend, slowest %.3fs" % worst)
    t.eq(live.stats()["accepted"], 20, "connections at the live backend")


run(test)
