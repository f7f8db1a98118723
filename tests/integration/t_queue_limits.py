"""max_queue limits: a wait longer than queue_timeout and a full queue
close the client (never reaching a server), each logged; a pool without
max_queue still turns the client away at once; queue_timeout defaults to
connect_timeout."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


reset_seen = False


def closed_within(s, limit):
    """Seconds until s is closed by the peer without a byte, or None.
    Refusals (queue full, queue timeout, no server) are resets."""
    t0 = time.monotonic()
    global reset_seen
    try:
        data = s.recv(1)
    except socket.timeout:
        return None
    except ConnectionResetError:
        reset_seen = True
        data = b""
    if data:
        return None
    return time.monotonic() - t0


def test(t):
    a = t.identify_backend("A")
    port, port2, port3, port4 = free_port(), free_port(), free_port(), free_port()
    lb = t.start_config("""\
global:
  workers: 2
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
  noq: {bind: "127.0.0.1:%d", pool: n}
  dflt: {bind: "127.0.0.1:%d", pool: d}
  full: {bind: "127.0.0.1:%d", pool: f}
pools:
  p:
    max_queue: 2
    queue_timeout: 400ms
    servers:
      - {address: "%s", max_connections: 1}
  n:
    servers:
      - {address: "%s", max_connections: 1}
  d:
    max_queue: 5
    connect_timeout: 300ms
    servers:
      - {address: "%s", max_connections: 1}
  f:
    max_queue: 2
    queue_timeout: 20s
    servers:
      - {address: "%s", max_connections: 1}
""" % (port, port2, port3, port4, a.hostport, a.hostport, a.hostport, a.hostport),
        extra=["-v"])
    addr = ("127.0.0.1", port)
    held, n = t.hold(addr)
    t.eq(n, "A", "slot holder")

    # timeout: closed after ~queue_timeout, not before, not reaching A
    s = connect(addr, timeout=5)
    t.add_closer(s)
    took = closed_within(s, 5)
    t.check(took is not None, "queued client not closed at queue_timeout")
    t.log("queue timeout closed the client after %.3fs" % took)
    t.check(0.3 <= took <= 2.0, "closed after %.3fs, queue_timeout is 0.4s" % took)
    t.check(reset_seen, "queue timeout closed the client with a FIN, not a reset")
    t.check(lb.wait_stderr(r"pool p: no free slot within queue_timeout \(0\.400s\): closing client", 2),
            "queue timeout not logged")

    held.close()
    t.check(wait_until(lambda: a.stats()["active"] == 0, 3), "A still busy")

    # full: two wait, the third is closed at once
    addr4 = ("127.0.0.1", port4)
    held, n = t.hold(addr4)
    t.eq(n, "A", "slot holder, pool f")
    # one at a time: arrival order is accept order, and two workers may
    # accept two quick connections either way round
    queued = lambda: len(re.findall(r"queued in pool f$", lb.stderr(), re.M))
    w1 = connect(addr4, timeout=5)
    t.add_closer(w1)
    t.check(wait_until(lambda: queued() == 1, 5), "first waiter not queued")
    w2 = connect(addr4, timeout=5)
    t.add_closer(w2)
    t.check(wait_until(lambda: queued() == 2, 5), "second waiter not queued")
    try:
        s3 = connect(addr4, timeout=5)
        t.add_closer(s3)
        took = closed_within(s3, 5)
    except ConnectionResetError:
        took = 0.0      # refused with a reset before connect() returned
    t.check(took is not None and took < 0.3, "third client not refused at once (%r)" % took)
    t.check(lb.wait_stderr(r"pool f: queue full \(max_queue 2\): closing client", 2),
            "queue full not logged")
    # the two waiters are still served once the slot frees
    held.close()
    t.eq(recv_line(w1, 3), "A", "first waiter after the slot freed")
    w1.close()
    t.eq(recv_line(w2, 3), "A", "second waiter after the slot freed")
    w2.close()
    t.check(a.stats()["max_active"] <= 1, "max_connections exceeded")

    # no max_queue: refused at once, as before
    addr2 = ("127.0.0.1", port2)
    h2, n = t.hold(addr2)
    t.eq(n, "A", "slot holder, pool n")
    try:
        s = connect(addr2, timeout=5)
        took = closed_within(s, 5)
        s.close()
    except ConnectionResetError:
        took = 0.0
    t.check(took is not None and took < 0.3, "no queue: not refused at once (%r)" % took)
    h2.close()
    t.check(wait_until(lambda: a.stats()["active"] == 0, 3), "A still busy")

    # queue_timeout defaults to connect_timeout (300ms)
    addr3 = ("127.0.0.1", port3)
    h3, n = t.hold(addr3)
    t.eq(n, "A", "slot holder, pool d")
    s = connect(addr3, timeout=5)
    took = closed_within(s, 5)
    t.check(took is not None and 0.2 <= took <= 2.0, "default queue_timeout: closed after %r" % took)
    s.close()
    h3.close()


run(test)
