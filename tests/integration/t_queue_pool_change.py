"""A client queued for a pool keeps waiting when a reload sends its
listener to another pool (the pool renamed, or the listener pointed
elsewhere): it moves to that pool's queue and is served by the new pool's
free server at once -- not stranded in a queue nobody wakes any more until
queue_timeout, while newcomers take the free slot before it."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *

CFG1 = """\
global:
  workers: 2
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    max_queue: 10
    queue_timeout: 30s
    servers:
      - {address: "%s", max_connections: 1}
"""

CFG2 = """\
global:
  workers: 2
listeners:
  front: {bind: "127.0.0.1:%d", pool: q}
pools:
  q:
    max_queue: 10
    queue_timeout: 30s
    servers:
      - {address: "%s", max_connections: 1}
      - {address: "%s", max_connections: 1}
"""


def test(t):
    a = t.identify_backend("A")
    b = t.identify_backend("B")
    port = free_port()
    addr = ("127.0.0.1", port)
    lb = t.start_config(CFG1 % (port, a.hostport), extra=["-v"])
    held, n = t.hold(addr)
    t.eq(n, "A", "slot holder")
    waiter = connect(addr, timeout=5, source="127.0.0.20")
    t.add_closer(waiter)
    t.check(lb.wait_stderr(r"queued in pool p", 5), "client not queued")

    # p becomes q, with B added.  A keeps its one connection (its state
    # follows it), so the waiter's only free slot is B -- at once.
    t0 = time.monotonic()
    t.reload(lb, CFG2 % (port, a.hostport, b.hostport))
    t.eq(recv_line(waiter, 5), "B", "queued client after its pool changed")
    t.check(time.monotonic() - t0 < 5, "queued client served late")
    t.check(a.stats()["max_active"] <= 1, "A's max_connections exceeded")

    # A and B are both full now; the next client queues in q.  A's holder,
    # a connection of the old generation (pool p), leaving frees a slot of
    # A, which is in q: the queued client takes it at once.
    second = connect(addr, timeout=5, source="127.0.0.21")
    t.add_closer(second)
    t.check(lb.wait_stderr(r"queued in pool q", 5), "second client not queued")
    held.close()
    t.eq(recv_line(second, 5), "A", "queued client after A's old holder left")


run(test)
