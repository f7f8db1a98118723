"""source: the same client address always reaches the same server; removing
one of 3 servers moves only the clients that were on it."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *

CFG = """\
global:
  workers: 2
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    balance: source
    servers:
%s"""


def servers(bs):
    return "".join("      - address: %s\n        name: %s\n" % (b.hostport, b.name) for b in bs)


def test(t):
    bs = [t.identify_backend(n) for n in ("A", "B", "C")]
    port = free_port()
    addr = ("127.0.0.1", port)
    lb = t.start_config(CFG % (port, servers(bs)))
    srcs = ["127.0.0.%d" % i for i in range(2, 62)]
    try:
        connect(addr, source=srcs[-1]).close()
    except OSError as e:
        raise Skip("cannot bind to %s: %r" % (srcs[-1], e))
    first = {}
    for src in srcs:
        names = set(t.identify(addr, source=src) for _ in range(3))
        t.check(None not in names, "client %s not served" % src)
        t.eq(len(names), 1, "client %s reached several servers %s" % (src, names))
        first[src] = names.pop()
    dist = {n: list(first.values()).count(n) for n in "ABC"}
    t.log("60 client addresses over 3 servers:", dist)
    t.check(min(dist.values()) >= 5, "hash spreads badly: %s" % dist)

    # remove C: clients on A and B must stay put
    t.reload(lb, CFG % (port, servers(bs[:2])))
    moved = []
    for src in srcs:
        now = t.identify(addr, source=src)
        t.check(now in ("A", "B"), "client %s -> %r after removing C" % (src, now))
        if first[src] != "C" and now != first[src]:
            moved.append(src)
    stay = sum(1 for s in srcs if first[s] != "C")
    t.log("after removing C: %d of %d clients not on C moved" % (len(moved), stay))
    t.check(len(moved) <= stay // 10, "removing C moved %d of the %d clients that were on A or B"
            % (len(moved), stay))
    # put C back: everyone returns to the first mapping
    t.reload(lb, CFG % (port, servers(bs)))
    back = [s for s in srcs if t.identify(addr, source=s) != first[s]]
    t.check(len(back) <= len(srcs) // 20, "after adding C back %d clients differ from the start" % len(back))


run(test)
