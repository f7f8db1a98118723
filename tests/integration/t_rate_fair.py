"""A check that refuses takes nothing (issue 22, item 2): one flooder,
refused by its own rate_limit.per_source, must not drain the
rate_limit.total that every other client shares.  20 other clients (one
address each) connect while it floods; all must be served.  The same
scenario runs against HAProxy (rate-limit sessions + a conn_rate stick
table) in the same script: tcplb must serve at least as many."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from haproxy import HAProxy, have_haproxy

OTHERS = 20


def served(addr, source):
    try:
        s = connect(addr, source=source)
    except OSError:
        return False
    try:
        return recv_line(s, 3) == "A"
    except Exception:
        return False
    finally:
        s.close()


def scenario(t, label, addr):
    stop = threading.Event()
    flood = [0]

    def flooder():
        while not stop.is_set():
            try:
                s = socket.socket()
                s.bind(("127.0.0.2", 0))
                s.settimeout(1)
                s.connect(addr)
                s.close()
            except OSError:
                pass
            flood[0] += 1

    th = threading.Thread(target=flooder, daemon=True)
    th.start()
    time.sleep(0.3)
    n = 0
    for i in range(OTHERS):
        n += served(addr, "127.0.0.%d" % (10 + i))
        time.sleep(0.1)
    stop.set()
    th.join(5)
    t.log("%s: %d of %d other clients served while 127.0.0.2 made %d connections"
          % (label, n, OTHERS, flood[0]))
    return n


def test(t):
    be = t.identify_backend("A")
    port = free_port()
    lb = t.start_config("""\
global:
  workers: 2
listeners:
  front:
    bind: "127.0.0.1:%d"
    pool: p
    rate_limit: {total: 20/s, per_source: 2/s}
pools:
  p:
    servers: ["%s"]
""" % (port, be.hostport))
    try:
        connect(("127.0.0.1", port), source="127.0.0.2").close()
    except OSError as e:
        raise Skip("cannot bind to 127.0.0.2: %r" % e)
    h = None
    if have_haproxy():
        hport = free_port()
        t.add_closer(HAProxy(t, """\
frontend front
    bind 127.0.0.1:%d
    rate-limit sessions 20
    stick-table type ip size 100k expire 30s store conn_rate(1s)
    tcp-request connection track-sc0 src
    tcp-request connection reject if { sc0_conn_rate gt 2 }
    default_backend b
backend b
    server a %s
""" % (hport, be.hostport), hport))
        h = scenario(t, "haproxy", ("127.0.0.1", hport))
    time.sleep(1.2)             # buckets full again
    n = scenario(t, "tcplb", ("127.0.0.1", port))
    t.check(n >= OTHERS - 1, "tcplb: only %d of %d other clients served" % (n, OTHERS))
    if h is not None:
        t.check(n >= h, "tcplb served fewer than haproxy (%d < %d)" % (n, h))
    t.check(lb.wait_stderr(r"refused 127\.0\.0\.2:\d+: rate_limit\.per_source exceeded"),
            "the flooder was not refused by its own limit")
    t.check(lb.alive(), "tcplb died")


run(test, timeout=60)
