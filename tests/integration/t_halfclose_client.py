"""Client half-close: the client sends then shutdown(SHUT_WR); the backend
sees EOF and can still reply in full; then the connection closes."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *

REPLY = os.urandom(300000)


def handler(c, b):
    data = bytearray()
    while True:
        d = c.recv(65536)
        if not d:
            break
        data += d
    b.record(("got", bytes(data), time.monotonic()))
    time.sleep(0.2)            # reply well after the EOF
    c.sendall(REPLY)
    c.shutdown(socket.SHUT_WR)
    # the client then closes: we must see EOF (not a hang)
    c.settimeout(3)
    try:
        rest = c.recv(10)
        b.record(("final", rest))
    except OSError as e:
        b.record(("final", repr(e)))


def test(t):
    b = t.thread_backend(handler)
    lb = t.start_quick([b.hostport])
    for round_ in range(3):
        b.results.clear()
        s = connect(lb.addr)
        msg = b"hello half-close %d\n" % round_ * 1000
        s.sendall(msg)
        s.shutdown(socket.SHUT_WR)
        t0 = time.monotonic()
        data, how = recv_until_eof(s, timeout=5)
        dt = time.monotonic() - t0
        t.check(wait_until(lambda: len(b.results) >= 1, 2), "backend never saw EOF")
        kind, got, _ = b.results[0]
        t.eq(got, msg, "bytes the backend received before EOF")
        t.eq(len(data), len(REPLY), "reply bytes the client received after its half-close (ended by %s)" % how)
        t.check(data == REPLY, "reply content differs")
        t.eq(how, "eof", "how the reply stream ended")
        t.check(dt < 3, "reply took %.2fs" % dt)
        s.close()
        t.check(wait_until(lambda: len(b.results) >= 2, 3), "backend did not see the final close")
        t.eq(b.results[1], ("final", b""), "backend's view of the final close")
        t.log("round %d: %d bytes after half-close, %.3fs" % (round_, len(data), dt))
    t.check(b.errors == [], "backend errors: %s" % b.errors)


run(test)
