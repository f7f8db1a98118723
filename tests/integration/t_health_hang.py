"""Active health check against a server that hangs (its accept queue is
full, so a connect gets no answer): the check times out, the server is
marked DOWN within interval x fall + timeout (plus a margin), the log says
why, and no client fails while the healthy server is there."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def test(t):
    good = t.identify_backend("good")
    hang = t.hanging_backend()
    port = free_port()
    addr = ("127.0.0.1", port)
    interval, timeout, fall = 0.2, 0.2, 2
    lb = t.start_config("""\
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    connect_timeout: 300ms
    health_check: {interval: 200ms, timeout: 200ms, fall: 2, rise: 2}
    servers:
      - {address: "%s", name: good}
      - {address: "%s", name: hung}
""" % (port, good.hostport, hang.hostport))
    t0 = time.monotonic()
    m = lb.wait_stderr(r"server p/hung \(.*\) is DOWN: ([^\n]*)", timeout=5)
    took = time.monotonic() - t0
    t.check(m is not None, "the hanging server was never marked DOWN")
    t.log("DOWN after %.2fs: %s" % (took, m.group(1)))
    t.check("timeout" in m.group(1) or "timed out" in m.group(1),
            "reason does not say timeout: %r" % m.group(1))
    # First check starts within one interval; each failed one takes `timeout`.
    limit = interval * fall + timeout + 0.5
    t.check(took <= limit, "DOWN after %.2fs, limit %.2fs" % (took, limit))
    # Down: every client goes to the healthy server at once.
    for _ in range(20):
        c0 = time.monotonic()
        name = t.identify(addr, timeout=2)
        t.eq(name, "good", "client served by the healthy server")
        t.check(time.monotonic() - c0 < 0.25, "client waited %.2fs" % (time.monotonic() - c0))


run(test)
