"""Listener max_connections (and global max_connections): never more
concurrent sessions than allowed; a freed slot is used again."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def test(t):
    a = t.identify_backend("A")
    p1, p2 = free_port(), free_port()
    t.start_config("""\
global:
  max_connections: 3
listeners:
  one: {bind: "127.0.0.1:%d", pool: p, max_connections: 2}
  two: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    servers: ["%s"]
""" % (p1, p2, a.hostport))
    h1 = [t.hold(("127.0.0.1", p1)) for _ in range(2)]
    t.eq([n for _, n in h1], ["A", "A"], "first two on listener one")
    s3 = connect(("127.0.0.1", p1))
    t.eq(recv_line(s3, 0.7), None, "a third session on listener one (max 2)")
    t.eq(a.stats()["active"], 2, "sessions at the backend")
    h2 = t.hold(("127.0.0.1", p2))
    t.eq(h2[1], "A", "listener two while one is full")
    s4 = connect(("127.0.0.1", p2))
    t.eq(recv_line(s4, 0.7), None, "a fourth session overall (global max 3)")
    t.check(a.stats()["max_active"] <= 3, "backend saw %d concurrent sessions" % a.stats()["max_active"])
    # free a slot of listener one: the waiting (or a new) connection is served
    h1[0][0].close()
    served = recv_line(s3, 2)
    if served is None:
        s3.close()
        served = t.identify(("127.0.0.1", p1))
    t.eq(served, "A", "listener one after a slot was freed")
    t.check(a.stats()["max_active"] <= 3, "backend saw %d concurrent sessions" % a.stats()["max_active"])
    s4.close()


run(test)
