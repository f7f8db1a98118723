"""first: servers are filled in order up to their max_connections."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def identify_and_finish(addr):
    """Read the backend's name, then close gracefully and wait for tcplb's
    EOF: tcplb ends the session (and frees the server slot) before it
    forwards the last EOF, so the next connection sees the slot free.  A
    plain close would race with the next connect."""
    s = connect(addr, timeout=2.0)
    try:
        name = recv_line(s, 2.0)
        s.shutdown(socket.SHUT_WR)
        s.settimeout(2.0)
        while s.recv(4096):
            pass
        return name
    finally:
        s.close()


def test(t):
    a = t.identify_backend("A")
    b = t.identify_backend("B")
    c = t.identify_backend("C")
    bk = {"A": a, "B": b, "C": c}
    port = free_port()
    addr = ("127.0.0.1", port)
    t.start_config("""\
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    balance: first
    servers:
      - {address: "%s", max_connections: 2}
      - {address: "%s", max_connections: 2}
      - {address: "%s"}
""" % (port, a.hostport, b.hostport, c.hostport))
    # sequential short connections all go to the first
    seq = [identify_and_finish(addr) for _ in range(5)]
    t.eq(seq, ["A"] * 5, "short sequential connections")
    held = []
    names = []
    for i in range(6):
        s, n = t.hold(addr)
        held.append((s, n))
        names.append(n)
    t.log("held:", names)
    t.eq(names, ["A", "A", "B", "B", "C", "C"], "fill order")
    # free one slot on A: the next goes to A again
    for s, n in held:
        if n == "A":
            s.close()
            held.remove((s, n))
            break
    t.check(wait_until(lambda: a.stats()["active"] == 1, 2), "close not seen at A")
    time.sleep(0.1)
    s, n = t.hold(addr)
    t.eq(n, "A", "after one A connection closed")
    s2, n2 = t.hold(addr)
    t.eq(n2, "C", "with A and B full")
    for k, bb in bk.items():
        t.check(bb.stats()["max_active"] <= (2 if k != "C" else 99),
                "%s had %d concurrent connections" % (k, bb.stats()["max_active"]))


run(test)
