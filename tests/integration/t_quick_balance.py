"""Quick mode -b: leastconn, source, first and random pick as their names
say."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def test(t):
    a = t.identify_backend("A")
    b = t.identify_backend("B")
    hp = [a.hostport, b.hostport]

    lb = t.start_quick(hp, extra=["-b", "leastconn"])
    h = [t.hold(lb.addr) for _ in range(4)]
    t.eq(sorted(n for _, n in h), ["A", "A", "B", "B"], "-b leastconn, 4 held connections")
    for s, _ in h:
        s.close()
    lb.stop()

    lb = t.start_quick(hp, extra=["-b", "first"])
    h = [t.hold(lb.addr) for _ in range(4)]
    t.eq([n for _, n in h], ["A"] * 4, "-b first without max_connections")
    for s, _ in h:
        s.close()
    lb.stop()

    lb = t.start_quick(hp, extra=["-b", "source"])
    seen = {}
    for i in range(2, 22):
        src = "127.0.0.%d" % i
        names = set(t.identify(lb.addr, source=src) for _ in range(3))
        t.eq(len(names), 1, "-b source: %s reached %s" % (src, names))
        seen[src] = names.pop()
    t.check(set(seen.values()) == {"A", "B"}, "-b source: 20 addresses all on %s" % set(seen.values()))
    lb.stop()

    lb = t.start_quick(hp, extra=["-b", "random"])
    names = [t.identify(lb.addr) for _ in range(60)]
    t.check(None not in names, "-b random: unserved connections")
    t.check(10 <= names.count("A") <= 50, "-b random: A got %d of 60" % names.count("A"))
    lb.stop()


run(test)
