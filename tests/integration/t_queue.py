"""max_queue: clients beyond every server's max_connections wait in one
FIFO shared by all workers and are served in arrival order whichever worker
frees the slot; bytes sent while queued arrive intact; an expired wait and a
full queue close the client."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def queued_count(lb):
    return len(re.findall(r"queued in pool p$", lb.stderr(), re.M))


def test(t):
    a = t.identify_backend("A")
    port = free_port()
    addr = ("127.0.0.1", port)
    lb = t.start_config("""\
global:
  workers: 2
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    max_queue: 20
    queue_timeout: 10s
    servers:
      - {address: "%s", max_connections: 1}
""" % (port, a.hostport), extra=["-v"])

    # FIFO across both workers: one client holds the only slot, the others
    # wait -- until each worker holds at least two of them (the kernel's
    # SO_REUSEPORT hash decides where a connection lands), at most 16.
    # Each sends its bytes at once (they wait in the kernel).
    nworkers = 1 if os.environ.get("TCPLB_TEST_WORKERS") == "1" else 2
    first, n = t.hold(addr)
    t.eq(n, "A", "first client")
    waiters = []
    for i in range(16):
        s = connect(addr, timeout=5, source="127.0.0.%d" % (10 + i))
        t.add_closer(s)
        s.sendall(b"hello %d\n" % i)
        waiters.append(s)
        t.check(wait_until(lambda: queued_count(lb) == i + 1, 5),
                "client %d not queued (%d queued)" % (i, queued_count(lb)))
        ids = [int(x) for x in re.findall(r"session (\d+) queued in pool p$", lb.stderr(), re.M)]
        per = [sum(1 for x in ids if x >> 48 == w) for w in range(nworkers)]
        if i >= 5 and min(per) >= 2:
            break
    t.eq(a.stats()["accepted"], 1, "servers full: nobody else reached A")
    holder = first
    for i, s in enumerate(waiters):
        holder.close()
        line = recv_line(s, 5)
        t.eq(line, "A", "waiter %d served in order" % i)
        t.eq(recv_exact(s, len(b"hello %d\n" % i), 5), b"hello %d\n" % i,
             "bytes sent while queued, waiter %d" % i)
        # nobody behind it was served out of turn
        for later in waiters[i + 1:]:
            later.setblocking(False)
            try:
                got = later.recv(1)
            except BlockingIOError:
                got = None
            later.settimeout(5)
            t.check(got is None, "a later waiter was served before waiter %d" % i)
        holder = s
    t.check(a.stats()["max_active"] <= 1, "max_connections exceeded: %d" % a.stats()["max_active"])
    holder.close()
    t.check(wait_until(lambda: a.stats()["active"] == 0, 3), "A still busy")
    # distribution over the workers: session ids carry the worker (<< 48)
    t.log("%d waiters, per worker %s" % (len(waiters), per))
    t.check(min(per) >= 2, "the waiters did not spread over the workers; FIFO across workers not exercised")


run(test)
