"""The server closes first: the client sees EOF promptly (< 1 s)."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def handler(c, b):
    mode = b.mode
    if mode == "bye":
        c.sendall(b"bye\n")
    elif mode == "after-request":
        c.recv(100)
        c.sendall(b"answer\n")
    c.close()
    b.record(time.monotonic())


def test(t):
    b = t.thread_backend(handler)
    lb = t.start_quick([b.hostport])
    for mode, want in (("silent", b""), ("bye", b"bye\n"), ("after-request", b"answer\n")):
        b.mode = mode
        for i in range(5):
            s = connect(lb.addr)
            if mode == "after-request":
                s.sendall(b"question\n")
            t0 = time.monotonic()
            data, how = recv_until_eof(s, timeout=3)
            dt = time.monotonic() - t0
            s.close()
            t.eq((data, how), (want, "eof"), "%s #%d: what the client read" % (mode, i))
            t.check(dt < 1.0, "%s #%d: EOF took %.2fs" % (mode, i, dt))
        t.log("%s: ok" % mode)
    t.check(b.errors == [], "backend errors: %s" % b.errors)


run(test)
