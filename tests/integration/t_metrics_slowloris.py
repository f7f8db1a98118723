"""Slow clients cannot hold the metrics port or the admin socket (issue
21, item 3).

- 40 clients from 127.0.0.1 trickle a request head one byte a second:
  at most max_connections_per_source (2 here) are taken in, the others
  are reset at once, and those taken in are reset when the head deadline
  (5 s) passes -- not kept alive by each byte.  Meanwhile a scrape from
  127.0.0.2 is answered at once.
- global.metrics.allow: a client outside the list is reset; deny wins.
- 64 admin clients (every slot) trickling a command line are reset at the same
  deadline, and `show info` gets its answer meanwhile or right after."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def trickle(addr, n, family=socket.AF_INET, source=None):
    socks = []
    for _ in range(n):
        s = socket.socket(family, socket.SOCK_STREAM)
        if source:
            s.bind((source, 0))
        s.settimeout(2)
        try:
            s.connect(addr)
        except ConnectionResetError:
            s.close()
            s = None        # refused (reset) before connect() returned
        socks.append(s)
    return socks


def fate(s, deadline):
    """Send a byte a second until the peer resets or closes: ("reset" |
    "eof" | "answer" | "alive", seconds)."""
    t0 = time.monotonic()
    if s is None:
        return "reset", 0.0
    s.setblocking(False)
    while time.monotonic() - t0 < deadline:
        try:
            s.send(b"G")
        except (BrokenPipeError, ConnectionResetError):
            return "reset", time.monotonic() - t0
        except BlockingIOError:
            pass
        try:
            d = s.recv(100)
            if d == b"":
                return "eof", time.monotonic() - t0
            return "answer", time.monotonic() - t0
        except ConnectionResetError:
            return "reset", time.monotonic() - t0
        except BlockingIOError:
            pass
        time.sleep(0.25)
    return "alive", time.monotonic() - t0


def test(t):
    port = free_port()
    mport = free_port()
    sock = t.path("admin.sock")
    lb = t.start_config("""\
global:
  admin_socket: %s
  metrics:
    bind: 127.0.0.1:%d
    allow: ["127.0.0.0/8"]
    deny: ["127.0.0.9"]
    max_connections_per_source: 2
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    servers: ["127.0.0.1:9"]
""" % (sock, mport, port))
    maddr = ("127.0.0.1", mport)

    # A client in the deny list: reset at once.
    s = socket.socket()
    s.bind(("127.0.0.9", 0))
    s.settimeout(3)
    try:
        s.connect(maddr)
        how = fate(s, 3)[0]
    except ConnectionResetError:
        how = "reset"           # the reset may beat connect() returning
    t.eq(how, "reset", "denied client")
    s.close()

    # Slowloris from one address.
    slow = trickle(maddr, 40)
    time.sleep(0.3)
    results = [None] * len(slow)

    def watch(i):
        results[i] = fate(slow[i], 12)

    th = [threading.Thread(target=watch, args=(i,)) for i in range(len(slow))]
    for x in th:
        x.start()
    # Another address is answered meanwhile.
    time.sleep(1.0)
    t0 = time.monotonic()
    s = connect(maddr, source="127.0.0.2")
    s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
    data, how = recv_until_eof(s, 5)
    s.close()
    took = time.monotonic() - t0
    t.check(data.startswith(b"HTTP/1.1 200"), "scrape from 127.0.0.2: %r" % data[:60])
    t.check(took < 2.0, "scrape waited %.2fs behind slow clients" % took)
    for x in th:
        x.join(20)
    kinds = [r[0] for r in results]
    t.log("slow clients: %s" % {k: kinds.count(k) for k in set(kinds)})
    t.check("alive" not in kinds, "a trickling client was still connected after 12s")
    late = [r for r in results if r[1] > 1.0]
    t.check(len(late) <= 2, "%d slow clients were taken in (cap 2)" % len(late))
    for r in late:
        t.eq(r[0], "reset", "a slow client past the deadline")
        t.check(4.0 <= r[1] <= 8.0, "reset after %.2fs, deadline 5s" % r[1])
    for s in slow:
        if s is not None:
            s.close()

    # Admin socket: 64 trickling command lines, every slot.
    slow = []
    for _ in range(64):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(2)
        s.connect(sock)
        slow.append(s)
    results = [None] * len(slow)
    th = [threading.Thread(target=watch, args=(i,)) for i in range(len(slow))]
    for x in th:
        x.start()
    t0 = time.monotonic()
    out = ""
    while time.monotonic() - t0 < 9 and "pid" not in out:
        try:
            out = admin_send(sock, "show info", timeout=8)
        except (OSError, TestFailure):
            pass            # every slot taken: "too many admin connections"
        time.sleep(0.1)
    t.check("pid" in out, "show info: %r" % out[:100])
    t.check(time.monotonic() - t0 < 8, "show info waited %.2fs" % (time.monotonic() - t0))
    t.log("show info answered after %.2fs" % (time.monotonic() - t0))
    for x in th:
        x.join(20)
    kinds = [r[0] for r in results]
    t.log("slow admin clients: %s" % {k: kinds.count(k) for k in set(kinds)})
    t.check(all(r[0] in ("reset", "answer") and r[1] <= 8.0 for r in results
                if r[0] != "answer"), "slow admin clients: %r" % results[:3])
    t.check(all(r[0] != "alive" for r in results), "an admin client trickled for 12s")
    t.check(lb.alive(), "tcplb died")


run(test)
