"""balance: source with slow start keeps every client on one server while a
recovered server ramps up: the ramp admits fewer clients to it -- always the
same ones -- instead of turning away every other connection of each client."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def test(t):
    a = t.identify_backend("A")
    b_port = refused_port()
    port = free_port()
    addr = ("127.0.0.1", port)
    # slow_start 1h: the admitted share stays at about half for the whole
    # test, so a client can only alternate through the bug under test.
    cfg = """\
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    balance: source
    slow_start: 1h
    health_check: {interval: 100ms, timeout: 300ms, rise: 1, fall: 1}
    servers:
      - {address: "%s", name: A}
      - {address: "127.0.0.1:%d", name: B}
""" % (port, a.hostport, b_port)
    lb = t.start_config(cfg)
    srcs = ["127.0.0.%d" % i for i in range(2, 42)]
    try:
        connect(addr, source=srcs[-1]).close()
    except OSError as e:
        raise Skip("cannot bind to %s: %r" % (srcs[-1], e))
    t.check(lb.wait_stderr(r"server p/B .*is DOWN", timeout=3), "B never marked down")
    off = len(lb.stderr())
    t.identify_backend("B", port=b_port)
    t.check(lb.wait_stderr(r"server p/B .*is UP", timeout=3, start=off), "B never came up")
    seen = {}
    # Each client connects three times in a row (a per-pick admission
    # would alternate it), then all again in reverse order.
    for order in (srcs, srcs[::-1]):
        for src in order:
            for _ in range(3):
                seen.setdefault(src, []).append(t.identify(addr, source=src))
    flip = {s: n for s, n in seen.items() if len(set(n)) != 1}
    on_b = sum(1 for n in seen.values() if n[0] == "B")
    t.log("%d of %d clients on the ramping server B; clients that changed server: %s"
          % (on_b, len(srcs), flip))
    t.eq(flip, {}, "clients that alternated between servers during the ramp")
    t.check(0 < on_b < len(srcs), "the ramp should send some clients, not all, to B: %d" % on_b)


run(test)
