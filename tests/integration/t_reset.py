"""Resets cross tcplb: a backend reset reaches the client promptly, a
client reset reaches the backend promptly."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def handler(c, b):
    if b.mode == "backend-resets":
        d = c.recv(100)
        b.record(("got", d))
        time.sleep(0.05)
        rst_close(c)
        return
    # client-resets: read until EOF or reset
    first = c.recv(100)
    b.record(("got", first))
    c.settimeout(3)
    t0 = time.monotonic()
    try:
        while True:
            d = c.recv(65536)
            if not d:
                b.record(("end", "eof", time.monotonic()))
                return
    except ConnectionResetError:
        b.record(("end", "reset", time.monotonic()))
    except socket.timeout:
        b.record(("end", "timeout", time.monotonic()))


def test(t):
    b = t.thread_backend(handler)
    lb = t.start_quick([b.hostport])

    # backend resets
    b.mode = "backend-resets"
    hows = []
    for i in range(5):
        b.results.clear()
        s = connect(lb.addr)
        s.sendall(b"ping")
        t.check(wait_until(lambda: b.results, 2), "backend never got the client's bytes")
        t0 = time.monotonic()
        data, how = recv_until_eof(s, timeout=3)
        dt = time.monotonic() - t0
        s.close()
        hows.append(how)
        t.check(how in ("reset", "eof"), "backend reset #%d: client saw %s" % (i, how))
        t.check(dt < 1.0, "backend reset #%d: client learnt after %.2fs" % (i, dt))
    t.log("backend resets -> client saw", hows)
    if "eof" in hows:
        t.log("NOTE: the backend's reset reached the client as a plain EOF, not a reset")

    # client resets (after a moment of established relaying)
    b.mode = "client-resets"
    ends = []
    for i in range(5):
        b.results.clear()
        s = connect(lb.addr)
        s.sendall(b"hello")
        t.check(wait_until(lambda: b.results, 2), "backend never got the client's bytes")
        t0 = time.monotonic()
        rst_close(s)
        t.check(wait_until(lambda: len(b.results) >= 2, 2.5),
                "client reset #%d: backend saw nothing within 2.5s" % i)
        _, how, at = b.results[1]
        dt = at - t0
        ends.append(how)
        t.check(how in ("reset", "eof"), "client reset #%d: backend saw %s" % (i, how))
        t.check(dt < 1.0, "client reset #%d: backend learnt after %.2fs" % (i, dt))
    t.log("client resets -> backend saw", ends)
    if "eof" in ends:
        t.log("NOTE: the client's reset reached the backend as a plain EOF, not a reset")
    # still alive and serving
    t.check(lb.alive(), "tcplb died")
    b.mode = "backend-resets"
    s = connect(lb.addr)
    s.sendall(b"x")
    s.close()
    t.check(b.errors == [], "backend errors: %s" % b.errors)


run(test)
