"""Per-connection warnings are rate-limited (issue 9, defect 3): a pool
whose only server refuses every connection produces one warning per client
without a limit.  At most 10 such records per 5 s reach the log, and the
first one after the interval says how many were suppressed."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def test(t):
    port = free_port()
    cfg = """\
global: {access_log: false}
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    servers: ["127.0.0.1:%d"]
""" % (port, refused_port())
    lb = t.start_config(cfg)
    rx = r"session \d+ from .*(has no server available|reachable after)"
    for _ in range(60):
        t.eq(t.identify(("127.0.0.1", port)), None, "a client was served by a dead pool")
    time.sleep(0.5)
    lines = [ln for ln in lb.stderr().splitlines() if re.search(rx, ln)]
    t.log("%d warnings for 60 refused clients" % len(lines))
    t.check(1 <= len(lines) <= 10, "%d per-connection warnings in one interval" % len(lines))
    time.sleep(5.2)
    t.eq(t.identify(("127.0.0.1", port)), None)
    m = lb.wait_stderr(r"%s.*\((\d+) similar messages suppressed\)" % rx, timeout=3)
    t.check(m, "no record with the suppressed count after the interval")
    t.log("after the interval: %s" % m.group(0)[-80:])
    t.eq(int(m.group(2)), 60 - len(lines), "suppressed count")


run(test)
