"""rate_limit: new connections per second, token buckets shared by the
workers -- per_source (each client address its own bucket) and total
(the listener's) -- with burst; refused connections are reset and
counted, and a flood from many addresses leaves tcplb's memory flat."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *

CFG = """\
global:
  workers: 2
listeners:
  per:
    bind: "127.0.0.1:%(p1)d"
    pool: p
    rate_limit: {per_source: 2/s, burst: 4}
  tot:
    bind: "127.0.0.1:%(p2)d"
    pool: p
    rate_limit: {total: 5/s, burst: 5}
pools:
  p:
    servers: ["%(be)s"]
"""


def served(addr, source=None):
    try:
        s = connect(addr, source=source)
    except OSError:
        return False
    try:
        return recv_line(s, 3) == "A"
    finally:
        s.close()


def test(t):
    be = t.identify_backend("A")
    p1, p2 = free_port(), free_port()
    lb = t.start_config(CFG % dict(p1=p1, p2=p2, be=be.hostport))
    a1, a2 = ("127.0.0.1", p1), ("127.0.0.1", p2)
    try:
        connect(a1, source="127.0.0.2").close()
    except OSError as e:
        raise Skip("cannot bind to 127.0.0.2: %r" % e)

    # per source: burst 4 (the probe above took one), then ~2/s
    t0 = time.monotonic()
    n = sum(served(a1, "127.0.0.2") for _ in range(10))
    el = time.monotonic() - t0
    t.log("127.0.0.2: %d of 10 served in %.2fs" % (n, el))
    t.check(3 <= n <= 3 + int(2 * el + 1), "per_source burst: %d served in %.2fs" % (n, el))
    # another address has its own bucket
    t.eq(sum(served(a1, "127.0.0.3") for _ in range(4)), 4, "127.0.0.3 bucket")
    # refilled at 2/s: after 1.1s at least 2 more
    time.sleep(1.1)
    n2 = sum(served(a1, "127.0.0.2") for _ in range(2))
    t.eq(n2, 2, "refill after 1.1s")
    t.check(lb.wait_stderr(r"refused 127\.0\.0\.2:\d+: rate_limit\.per_source exceeded"), "logged")

    # total: 5 then about 5/s whatever the address
    t0 = time.monotonic()
    got = [served(a2, "127.0.0.%d" % (10 + i)) for i in range(12)]
    el = time.monotonic() - t0
    t.log("total: %d of 12 served in %.2fs" % (sum(got), el))
    t.check(5 <= sum(got) <= 5 + int(5 * el + 1), "total: %d served in %.2fs" % (sum(got), el))
    t.check(got[:5] == [True] * 5, "the burst goes first: %s" % got)

    # a flood from many addresses: the per-source table is fixed-size
    rss0 = lb.rss_kb()
    t0 = time.monotonic()
    for i in range(3000):
        if time.monotonic() - t0 > 20:
            break
        src = "127.%d.%d.%d" % (1 + i // 60000, (i // 250) % 250 + 1, i % 250 + 1)
        try:
            s = connect(a1, source=src, timeout=1)
            s.close()
        except OSError:
            pass
    rss1 = lb.rss_kb()
    t.log("RSS %d -> %d KiB after a 3000-address flood" % (rss0, rss1))
    # (ThreadSanitizer's shadow memory grows with every page touched.)
    if lb.sanitizer() != "tsan":
        t.check(rss1 - rss0 < 8192, "RSS grew by %d KiB" % (rss1 - rss0))
    t.check(lb.alive(), "tcplb died")
    t.check(served(a1, "127.0.0.9"), "a fresh address is served after the flood")


run(test)
