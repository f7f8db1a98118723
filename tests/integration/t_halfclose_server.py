"""Server half-close: the backend sends then shutdown(SHUT_WR); the client
reads EOF but can still send data that reaches the backend."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *

GREETING = b"greetings from the backend\n" * 100
LATE = os.urandom(200000)


def handler(c, b):
    c.sendall(GREETING)
    c.shutdown(socket.SHUT_WR)
    data = bytearray()
    while True:
        d = c.recv(65536)
        if not d:
            break
        data += d
    b.record(bytes(data))


def test(t):
    b = t.thread_backend(handler)
    lb = t.start_quick([b.hostport])
    for round_ in range(3):
        b.results.clear()
        s = connect(lb.addr)
        t0 = time.monotonic()
        data, how = recv_until_eof(s, timeout=3)
        dt = time.monotonic() - t0
        t.eq(how, "eof", "client's read after the backend's half-close")
        t.eq(data, GREETING, "greeting bytes")
        t.check(dt < 1.0, "EOF reached the client only after %.2fs" % dt)
        time.sleep(0.2)
        try:
            s.sendall(LATE)
            s.shutdown(socket.SHUT_WR)
        except OSError as e:
            t.fail("client could not send after reading EOF: %r" % e)
        t.check(wait_until(lambda: len(b.results) >= 1, 3),
                "backend did not receive the client's late data + EOF")
        t.eq(len(b.results[0]), len(LATE), "late bytes received by the backend")
        t.check(b.results[0] == LATE, "late data content differs")
        # now both directions are closed: the client sees the end
        rest, how = recv_until_eof(s, timeout=2)
        t.check(how in ("eof", "reset") and rest == b"",
                "after both half-closes the client got %r/%s" % (rest[:50], how))
        s.close()
        t.log("round %d ok (EOF after %.3fs)" % (round_, dt))
    t.check(b.errors == [], "backend errors: %s" % b.errors)


run(test)
