"""Queued clients keep waiting across a reload and are served by what the
new configuration offers: a server added by the reload takes them at once,
and a server removed while clients wait strands nobody."""
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
    max_queue: 10
    queue_timeout: 20s
    servers:
%s
"""


def srv(b):
    return '      - {address: "%s", max_connections: 1}\n' % b.hostport


def test(t):
    a = t.identify_backend("A")
    b = t.identify_backend("B")
    c = t.identify_backend("C")
    port = free_port()
    addr = ("127.0.0.1", port)
    lb = t.start_config(CFG % (port, srv(a)), extra=["-v"])
    held, n = t.hold(addr)
    t.eq(n, "A", "slot holder")
    waiters = []
    for i in range(3):
        s = connect(addr, timeout=5, source="127.0.0.%d" % (20 + i))
        t.add_closer(s)
        waiters.append(s)
        t.check(lb.wait_stderr(r"(?s)(queued in pool p.*){%d}" % (i + 1), 5), "client %d not queued" % i)

    # reload: A is replaced by B.  The first waiter must get B at once,
    # without waiting for A's holder, and the others keep waiting.
    t0 = time.monotonic()
    t.reload(lb, CFG % (port, srv(b)))
    t.eq(recv_line(waiters[0], 5), "B", "first waiter after A was replaced by B")
    t.log("first waiter served %.3fs after the reload began" % (time.monotonic() - t0))
    for s in waiters[1:]:
        s.setblocking(False)
        try:
            got = s.recv(1)
        except BlockingIOError:
            got = None
        s.settimeout(5)
        t.check(got is None, "a waiter was served beyond B's max_connections")
    # A's holder leaving frees a slot on a server no longer in the pool:
    # nobody may be sent to A, but it must not strand the queue either.
    held.close()
    t.check(wait_until(lambda: a.stats()["active"] == 0, 3), "A's holder not closed")
    time.sleep(0.1)
    t.eq(a.stats()["accepted"], 1, "a waiter went to the removed server A")

    # reload adding C: the second waiter goes there
    t.reload(lb, CFG % (port, srv(b) + srv(c)))
    t.eq(recv_line(waiters[1], 5), "C", "second waiter after C was added")
    # B frees: the last waiter takes it
    waiters[0].close()
    t.eq(recv_line(waiters[2], 5), "B", "third waiter after B freed")
    t.check(b.stats()["max_active"] <= 1 and c.stats()["max_active"] <= 1, "max_connections exceeded")


run(test)
