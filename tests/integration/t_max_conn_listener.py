"""Listener max_connections and global max_connections: never more
concurrent sessions than allowed; a freed slot is used again."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def served_after_free(t, waiting, addr):
    """The waiting connection (queued or closed by tcplb) or a new one is
    served once a slot is free."""
    name = recv_line(waiting, 2)
    if name is None:
        waiting.close()
        name = t.identify(addr)
    return name


def test(t):
    a = t.identify_backend("A")
    p1, p2 = free_port(), free_port()
    one, two = ("127.0.0.1", p1), ("127.0.0.1", p2)

    # listener limit
    lb = t.start_config("""\
listeners:
  one: {bind: "127.0.0.1:%d", pool: p, max_connections: 2}
  two: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    servers: ["%s"]
""" % (p1, p2, a.hostport), cfg_name="l.yaml")
    h1 = [t.hold(one) for _ in range(2)]
    t.eq([n for _, n in h1], ["A", "A"], "first two on listener one")
    s3 = connect(one)
    t.add_closer(s3)
    t.eq(recv_line(s3, 0.7), None, "a third session on listener one (max 2)")
    t.eq(a.stats()["active"], 2, "sessions at the backend")
    h2 = [t.hold(two) for _ in range(3)]
    t.eq([n for _, n in h2], ["A"] * 3, "listener two is not limited by listener one")
    h1[0][0].close()
    t.eq(served_after_free(t, s3, one), "A", "listener one after a slot was freed")
    s3.close()
    t.check(a.stats()["max_active"] <= 5, "backend saw %d concurrent sessions" % a.stats()["max_active"])
    for s, _ in h1 + h2:
        s.close()
    lb.stop()
    t.check(wait_until(lambda: a.stats()["active"] == 0, 2), "sessions left at the backend")
    a.max_active = 0

    # global limit over both listeners
    p1, p2 = free_port(), free_port()
    one, two = ("127.0.0.1", p1), ("127.0.0.1", p2)
    t.notify = None
    t.start_config("""\
global:
  max_connections: 3
listeners:
  one: {bind: "127.0.0.1:%d", pool: p}
  two: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    servers: ["%s"]
""" % (p1, p2, a.hostport), cfg_name="g.yaml")
    h = [t.hold(one), t.hold(one), t.hold(two)]
    t.eq([n for _, n in h], ["A"] * 3, "three sessions over two listeners")
    s4 = connect(two)
    t.add_closer(s4)
    t.eq(recv_line(s4, 0.7), None, "a fourth session overall (global max 3)")
    t.check(a.stats()["max_active"] <= 3, "backend saw %d concurrent sessions" % a.stats()["max_active"])
    h[0][0].close()
    t.eq(served_after_free(t, s4, two), "A", "after a slot was freed")
    t.check(a.stats()["max_active"] <= 3, "backend saw %d concurrent sessions" % a.stats()["max_active"])


run(test)
