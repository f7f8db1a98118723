"""WATCHDOG_USEC set: WATCHDOG=1 arrives at about half the interval, and
only while every worker loop turns: a worker blocked (the test-only hook
TCPLB_TEST_STALL_WORKER blocks worker 0's loop) stops WATCHDOG=1 until it
runs again, even though the main loop is fine (issue 9, defect 3)."""
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
    lb = t.start_config(cfg, env={"WATCHDOG_USEC": "600000"})
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
    lb.stop()

    # Worker 0 of two blocks for 2.5 s, 1.5 s after start.
    t0 = time.monotonic()
    first = n.count()
    lb = t.start_config(cfg, extra=["-w", "2"],
                        env={"WATCHDOG_USEC": "600000", "TCPLB_TEST_STALL_WORKER": "1.5:2.5"})
    t.check(lb.wait_stderr(r"TCPLB_TEST_STALL_WORKER: blocking worker 0", timeout=5),
            "the stall hook did not run")
    stall_start = time.monotonic()
    time.sleep(3.5)
    pings = [e[0] for e in n.entries(first) if "WATCHDOG=1" in e[1].split("\n")]
    during = [p for p in pings if stall_start + 0.6 < p < stall_start + 2.4]
    after = [p for p in pings if p > stall_start + 2.6]
    gaps = [round(b_ - a, 3) for a, b_ in zip(pings, pings[1:])]
    t.log("stuck worker: WATCHDOG=1 at %s s after the stall began; gaps %s"
          % ([round(p - stall_start, 2) for p in pings], gaps))
    t.check(not during, "WATCHDOG=1 sent while worker 0 was blocked: %d" % len(during))
    t.check(max(gaps) >= 2.0, "no gap of 2 s in WATCHDOG=1 while a worker was blocked: %s" % gaps)
    t.check(len(after) >= 2, "WATCHDOG=1 did not resume after the worker ran again")
    t.check(lb.wait_stderr(r"worker 0 has not answered", timeout=1),
            "no log record naming the stuck worker")


run(test)
