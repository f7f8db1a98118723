"""leastconn: a new connection goes to a server with the fewest active
connections (relative to weight)."""
import sys, os, random
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def test(t):
    a = t.identify_backend("A")
    b = t.identify_backend("B")
    c = t.identify_backend("C")
    port = free_port()
    addr = ("127.0.0.1", port)
    cfg = """\
global:
  workers: 2
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    balance: leastconn
    servers: [%s, %s]
""" % (port, a.hostport, b.hostport)
    lb = t.start_config(cfg)
    bk = {"A": a, "B": b, "C": c}

    # hold 3 connections; they must split 2/1 or 1/2, never 3/0
    held = {"A": [], "B": []}
    for i in range(3):
        s, name = t.hold(addr)
        t.check(name in held, "not served: %r" % name)
        held[name].append(s)
    t.check(sorted(len(v) for v in held.values()) == [1, 2], "3 held connections split %s"
            % {k: len(v) for k, v in held.items()})
    # close everything on one server, keep the others: new ones go there
    heavy = max(held, key=lambda k: len(held[k]))
    light = "B" if heavy == "A" else "A"
    for s in held[light]:
        s.close()
    held[light] = []
    t.check(wait_until(lambda: bk[light].stats()["active"] == 0, 2), "close not seen")
    time.sleep(0.1)
    for i in range(2):
        s, name = t.hold(addr)
        t.eq(name, light, "with %d on %s, new connection #%d" % (len(held[heavy]), heavy, i))
        held[light].append(s)
    for v in held.values():
        for s in v:
            s.close()
    t.check(wait_until(lambda: a.stats()["active"] + b.stats()["active"] == 0, 2), "closes not seen")
    time.sleep(0.1)

    # random open/close sequence: each new connection lands on a minimum
    rnd = random.Random(7)
    open_ = {"A": [], "B": []}
    for step in range(60):
        total = sum(len(v) for v in open_.values())
        if total and (rnd.random() < 0.4 or total >= 8):
            k = rnd.choice([k for k in open_ if open_[k]])
            s = open_[k].pop()
            s.close()
            want = len(open_[k])
            t.check(wait_until(lambda: bk[k].stats()["active"] == want, 2), "close not seen")
            time.sleep(0.05)
        else:
            counts = {k: len(v) for k, v in open_.items()}
            s, name = t.hold(addr)
            t.check(name in open_, "step %d: not served (%r)" % (step, name))
            t.check(counts[name] == min(counts.values()),
                    "step %d: went to %s with active counts %s" % (step, name, counts))
            open_[name].append(s)
    for v in open_.values():
        for s in v:
            s.close()
    lb.stop()

    # weights: A weight 1, C weight 2 -> 6 held connections split 2:4
    port = free_port()
    addr = ("127.0.0.1", port)
    t.notify = None
    t.start_config("""\
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    balance: leastconn
    servers:
      - {address: "%s", weight: 1}
      - {address: "%s", weight: 2}
""" % (port, a.hostport, c.hostport), cfg_name="w.yaml")
    names = [t.hold(addr)[1] for _ in range(6)]
    t.log("weighted leastconn picks:", names)
    t.eq((names.count("A"), names.count("C")), (2, 4), "6 held connections over weights 1:2")


run(test)
