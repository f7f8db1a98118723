"""64 MiB of random bytes each way through tcplb to an echo backend,
checked with sha256; throughput through tcplb and direct is printed."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *

SIZE = 64 << 20


def transfer(t, addr, payload, label):
    s = connect(addr, timeout=10)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sent_hash = hashlib.sha256(payload).hexdigest()
    got = hashlib.sha256()
    result = {"n": 0, "how": None}

    def reader():
        n = 0
        s.settimeout(10)
        try:
            while True:
                chunk = s.recv(1 << 20)
                if not chunk:
                    result["how"] = "eof"
                    break
                got.update(chunk)
                n += len(chunk)
        except socket.timeout:
            result["how"] = "timeout"
        except OSError as e:
            result["how"] = repr(e)
        result["n"] = n

    th = threading.Thread(target=reader, daemon=True)
    t0 = time.monotonic()
    th.start()
    view = memoryview(payload)
    for off in range(0, len(payload), 1 << 18):
        s.sendall(view[off:off + (1 << 18)])
    s.shutdown(socket.SHUT_WR)
    th.join(40)
    dt = time.monotonic() - t0
    s.close()
    t.check(not th.is_alive(), "%s: reader still running after 40s" % label)
    t.eq(result["n"], SIZE, "%s: bytes echoed back (ended by %s)" % (label, result["how"]))
    t.eq(result["how"], "eof", "%s: how the echo stream ended" % label)
    t.eq(got.hexdigest(), sent_hash, "%s: sha256 of the echoed bytes" % label)
    mbs = 2 * SIZE / dt / 1e6
    t.log("%s: %d MiB each way in %.2fs: %.0f MB/s (both directions)" % (label, SIZE >> 20, dt, mbs))
    return mbs


def test(t):
    payload = os.urandom(SIZE)
    # the backend also hashes what it received
    state = {"h": hashlib.sha256(), "n": 0}

    def echo_hash(c, b):
        h = hashlib.sha256()
        n = 0
        while True:
            d = c.recv(1 << 20)
            if not d:
                break
            h.update(d)
            n += len(d)
            c.sendall(d)
        c.shutdown(socket.SHUT_WR)
        b.record((n, h.hexdigest()))

    b = t.thread_backend(echo_hash, name="echo-hash", conn_timeout=30)
    direct = transfer(t, b.addr, payload, "direct")
    lb = t.start_quick([b.hostport])
    via = transfer(t, lb.addr, payload, "through tcplb")
    t.check(wait_until(lambda: len(b.results) == 2, 5), "backend did not finish both streams")
    want = (SIZE, hashlib.sha256(payload).hexdigest())
    t.eq(b.results[1], want, "bytes (count, sha256) the backend received through tcplb")
    t.log("throughput: direct %.0f MB/s, through tcplb %.0f MB/s (%.0f%%)"
          % (direct, via, 100.0 * via / direct))
    t.check(b.errors == [], "backend errors: %s" % b.errors)


run(test, timeout=120)
