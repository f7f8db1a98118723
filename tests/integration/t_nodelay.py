"""TCP_NODELAY on both sides: small writes in a write-write-read pattern
are not held back by Nagle (which costs ~40 ms a round on loopback)."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *

ROUNDS = 40


def handler(c, b):
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while True:
        d = b""
        while len(d) < 2:
            x = c.recv(10)
            if not x:
                return
            d += x
        # answer in two small writes too
        c.send(b"r")
        time.sleep(0.001)
        c.send(b"s")


def test(t):
    b = t.thread_backend(handler)
    lb = t.start_quick([b.hostport])
    s = connect(lb.addr)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    t0 = time.monotonic()
    worst = 0
    for i in range(ROUNDS):
        r0 = time.monotonic()
        s.send(b"a")
        time.sleep(0.001)
        s.send(b"b")
        t.eq(recv_exact(s, 2, 2), b"rs", "reply")
        worst = max(worst, time.monotonic() - r0)
    per = (time.monotonic() - t0) / ROUNDS * 1000
    t.log("%.2f ms per write-write-read round (worst %.1f ms)" % (per, worst * 1000))
    t.check(per < 15, "%.1f ms per round: Nagle delays small writes (TCP_NODELAY not set?)" % per)
    s.close()


run(test)
