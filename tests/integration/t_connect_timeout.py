"""A backend that never answers the connect, next to a live one, with
connect_timeout 300ms: clients are served by the live one within ~1 s."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def test(t):
    hang = t.hanging_backend()
    live = t.identify_backend("LIVE")
    port = free_port()
    cfg = """\
global:
  workers: 1
defaults:
  connect_timeout: 5s
listeners:
  front:
    bind: 127.0.0.1:%d
    pool: mixed
pools:
  mixed:
    balance: roundrobin
    connect_timeout: 300ms
    retries: 2
    servers:
      - %s
      - %s
""" % (port, hang.hostport, live.hostport)
    t.start_config(cfg)
    times = []
    for i in range(6):
        t0 = time.monotonic()
        name = t.identify(("127.0.0.1", port), timeout=3)
        dt = time.monotonic() - t0
        times.append(round(dt, 3))
        t.eq(name, "LIVE", "client #%d served by" % i)
        t.check(dt < 1.2, "client #%d took %.2fs (connect_timeout is 300ms)" % (i, dt))
    t.log("times:", times)
    # the first pick of a fresh roundrobin is either server; at least one of
    # the 6 must have waited for the hanging one unless it was taken out
    t.log("slowest %.3fs" % max(times))


run(test)
