"""WATCHDOG_USEC set: WATCHDOG=1 arrives at about half the interval."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def test(t):
    b = t.backend("echo")
    port = free_port()
    cfg = """\
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    servers: [%s]
""" % (port, b.hostport)
    n = t.notify_receiver()
    t.start_config(cfg, env={"WATCHDOG_USEC": "600000"})
    start = n.count()
    time.sleep(2.0)
    pings = [e[0] for e in n.entries(start) if "WATCHDOG=1" in e[1].split("\n")]
    gaps = [round(b_ - a, 3) for a, b_ in zip(pings, pings[1:])]
    t.log("%d WATCHDOG=1 in 2s, gaps %s" % (len(pings), gaps))
    t.check(len(pings) >= 4, "only %d WATCHDOG=1 in 2s with WatchdogSec=0.6s" % len(pings))
    t.check(all(g < 0.6 for g in gaps), "a gap between WATCHDOG=1 reached the whole interval: %s" % gaps)
    # keeps coming while traffic flows
    s = connect(("127.0.0.1", port))
    start = n.count()
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        t.check(t.echo_ok(s, os.urandom(65536)), "echo")
    s.close()
    pings = [e for e in n.entries(start) if "WATCHDOG=1" in e[1].split("\n")]
    t.check(len(pings) >= 2, "only %d WATCHDOG=1 during 1s of traffic" % len(pings))


run(test)
