"""Back-pressure: a client pushing into a backend that does not read is
slowed down by TCP (tcplb does not buffer without bound); once the backend
reads, every byte arrives in order."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def handler(c, b):
    b.gate.wait(20)
    h = hashlib.sha256()
    n = 0
    while True:
        d = c.recv(1 << 20)
        if not d:
            break
        h.update(d)
        n += len(d)
    b.record((n, h.hexdigest()))


def test(t):
    b = t.thread_backend(handler, name="slow", conn_timeout=20)
    b.gate = threading.Event()
    lb = t.start_quick([b.hostport])
    time.sleep(0.2)
    rss0 = lb.rss_kb()
    s = connect(lb.addr)
    s.setblocking(False)
    block = os.urandom(1 << 16)
    h = hashlib.sha256()
    sent = 0
    end = time.monotonic() + 2.0
    stalled_at = None
    while time.monotonic() < end and sent < (256 << 20):
        try:
            n = s.send(block)
            h.update(block[:n])
            sent += n
            stalled_at = None
        except BlockingIOError:
            if stalled_at is None:
                stalled_at = time.monotonic()
            time.sleep(0.01)
    rss1 = lb.rss_kb()
    t.log("accepted %.1f MiB before the stall; tcplb RSS %d -> %d KiB"
          % (sent / 1048576, rss0, rss1))
    t.check(stalled_at is not None, "the client never blocked: %d MiB taken in 2s with a "
            "backend that does not read" % (sent >> 20))
    t.check(sent < (64 << 20), "%d MiB were accepted from the client" % (sent >> 20))
    t.check(rss1 - rss0 < 32 * 1024, "tcplb's RSS grew by %d KiB" % (rss1 - rss0))
    # release: all bytes arrive
    b.gate.set()
    s.setblocking(True)
    s.settimeout(10)
    s.shutdown(socket.SHUT_WR)
    t.check(wait_until(lambda: b.results, 10), "backend did not get everything + EOF")
    t.eq(b.results[0], (sent, h.hexdigest()), "bytes (count, sha256) at the backend")
    s.close()


run(test)
