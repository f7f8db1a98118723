"""random (weighted power of two choices): every server with weight > 0 is
used, heavier ones more, weight 0 never; with held connections the load
stays balanced."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def test(t):
    a = t.identify_backend("A")
    b = t.identify_backend("B")
    z = t.identify_backend("Z")
    port = free_port()
    addr = ("127.0.0.1", port)
    t.start_config("""\
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    balance: random
    servers:
      - {address: "%s", weight: 1}
      - {address: "%s", weight: 3}
      - {address: "%s", weight: 0}
""" % (port, a.hostport, b.hostport, z.hostport))
    seq = [t.identify(addr) for _ in range(400)]
    c = {n: seq.count(n) for n in ("A", "B", "Z")}
    t.log("400 short connections:", c)
    t.check(None not in seq, "unserved connections: %d" % seq.count(None))
    t.eq(c["Z"], 0, "connections to the weight-0 server")
    t.check(40 <= c["A"] <= 170, "A (weight 1 of 4) got %d of 400" % c["A"])
    t.check(c["B"] > c["A"], "B (weight 3) got fewer than A (weight 1): %s" % c)
    # held: 40 concurrent connections, P2C keeps them near 10:30
    held = [t.hold(addr) for _ in range(40)]
    hc = {n: sum(1 for _, x in held if x == n) for n in ("A", "B", "Z")}
    t.log("40 held connections:", hc)
    t.eq(hc["Z"], 0, "held connections on the weight-0 server")
    t.check(5 <= hc["A"] <= 17, "held connections split %s, want about 10:30" % hc)


run(test)
