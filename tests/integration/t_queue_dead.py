"""Clients that reset (or close) while queued give up their place at once
(issue 22, item 1).  20 dead clients fill max_queue; real clients that
come next must be queued, not refused as "queue full", and must be served
as soon as the slot frees -- no dead client is connected to the server
first.  The same scenario runs against HAProxy (maxconn 1, maxqueue 20)
in the same script: tcplb must do at least as well."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from haproxy import HAProxy, have_haproxy

DEAD = 20
REAL = 5


def scenario(t, label, addr, backend, dead_how):
    """Returns (real clients served, dead clients that reached the server)."""
    before = backend.stats()["accepted"]
    held, name = t.hold(addr)
    t.eq(name, "A", "%s: slot holder" % label)
    dead = []
    for _ in range(DEAD):
        dead.append(connect(addr, timeout=5))
    time.sleep(0.5)             # all queued
    for s in dead:
        if dead_how == "reset":
            rst_close(s)
        else:
            s.close()
    time.sleep(0.5)
    real = [connect(addr, timeout=5) for _ in range(REAL)]
    for s in real:
        t.add_closer(s)
    time.sleep(0.5)
    # none refused: a refused client reads EOF or a reset at once
    refused = 0
    for s in real:
        s.settimeout(0.05)
        try:
            if s.recv(1, socket.MSG_PEEK) == b"":
                refused += 1
        except socket.timeout:
            pass
        except OSError:
            refused += 1
    held.close()
    # Served one at a time (one slot), in whichever order the workers
    # queued them.
    served = recv_each(real, b"A\n", 10)
    time.sleep(0.3)
    reached = backend.stats()["accepted"] - before - 1 - served
    t.log("%s (%s): %d of %d real clients served, %d refused at first, "
          "%d dead clients reached the server" % (label, dead_how, served, REAL,
                                                  refused, reached))
    return served, reached


def test(t):
    a = t.identify_backend("A")
    port = free_port()
    lb = t.start_config("""\
global:
  workers: 2
listeners:
  front:
    bind: "127.0.0.1:%d"
    pool: p
    # the dead clients' slots must come free too: 1 + 20 dead + 5 real
    # would not fit
    max_connections: 22
    max_connections_per_source: 22
pools:
  p:
    max_queue: %d
    queue_timeout: 20s
    servers:
      - {address: "%s", max_connections: 1}
""" % (port, DEAD, a.hostport), extra=["-v"])
    addr = ("127.0.0.1", port)

    if have_haproxy():
        hport = free_port()
        t.add_closer(HAProxy(t, """\
listen front
    bind 127.0.0.1:%d
    server a %s maxconn 1 maxqueue %d
""" % (hport, a.hostport, DEAD), hport))
        h_served, h_reached = scenario(t, "haproxy", ("127.0.0.1", hport), a, "reset")
    else:
        t.log("haproxy not installed: no side-by-side run")
        h_served, h_reached = REAL, 0

    for how in ("reset", "close"):
        served, reached = scenario(t, "tcplb", addr, a, how)
        t.check(served == REAL, "tcplb (%s): %d of %d real clients served" % (how, served, REAL))
        t.check(reached == 0, "tcplb (%s): %d dead clients were connected to the server"
                % (how, reached))
        t.check(served >= h_served, "tcplb served fewer than haproxy (%d < %d)"
                % (served, h_served))
    # A half-close after a request is a client waiting for its answer: it
    # keeps its place.
    held, name = t.hold(addr)
    c = connect(addr, timeout=5)
    t.add_closer(c)
    c.sendall(b"req")
    c.shutdown(socket.SHUT_WR)
    time.sleep(0.5)
    held.close()
    t.eq(recv_until_eof(c, 5)[0], b"A\nreq", "half-closed queued client")
    t.check(lb.wait_stderr(r"left the queue of pool p: client reset", 2),
            "leaving the queue not logged")
    t.check(lb.alive(), "tcplb died")


run(test, timeout=60)
