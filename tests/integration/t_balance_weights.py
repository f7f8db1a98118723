"""Smooth weighted round robin: weights 1:3 give exactly 100:300 of 400
sequential connections, interleaved smoothly; weight 0 takes nothing; the
same holds with two workers."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def test(t):
    a = t.identify_backend("A")
    b = t.identify_backend("B")
    z = t.identify_backend("Z")
    for workers in (1, 2):
        port = free_port()
        cfg = """\
global:
  workers: %d
listeners:
  front:
    bind: 127.0.0.1:%d
    pool: p
pools:
  p:
    balance: roundrobin
    servers:
      - address: %s
        weight: 1
      - address: %s
        weight: 3
      - address: %s
        weight: 0
""" % (workers, port, a.hostport, b.hostport, z.hostport)
        t.notify = None
        lb = t.start_config(cfg, cfg_name="w%d.yaml" % workers)
        seq = [t.identify(("127.0.0.1", port)) for _ in range(400)]
        counts = {n: seq.count(n) for n in set(seq)}
        t.log("workers %d: counts %s; first 16: %s" % (workers, counts, "".join(str(x) for x in seq[:16])))
        t.check(None not in seq, "%d connections not served" % seq.count(None))
        t.eq(counts.get("Z", 0), 0, "connections to the weight-0 server")
        t.check(90 <= counts.get("A", 0) <= 110, "A got %d of 400 (weight 1 of 4)" % counts.get("A", 0))
        t.check(290 <= counts.get("B", 0) <= 310, "B got %d of 400 (weight 3 of 4)" % counts.get("B", 0))
        # smooth: every window of 4 consecutive picks holds exactly one A
        bad = [i for i in range(len(seq) - 3) if seq[i:i + 4].count("A") != 1]
        t.check(not bad, "not smooth: windows of 4 without exactly one A at %s: %s"
                % (bad[:5], "".join(seq[bad[0]:bad[0] + 12]) if bad else ""))
        lb.stop()


run(test)
