"""Per-server max_connections is never exceeded, even under a burst."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def test(t):
    a = t.identify_backend("A")
    b = t.identify_backend("B")
    port = free_port()
    addr = ("127.0.0.1", port)
    t.start_config("""\
global:
  workers: 2
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    balance: roundrobin
    servers:
      - {address: "%s", max_connections: 3}
      - {address: "%s", max_connections: 3}
""" % (port, a.hostport, b.hostport))
    held = []
    for i in range(6):
        s, n = t.hold(addr)
        t.check(n in ("A", "B"), "connection #%d not served (%r)" % (i, n))
        held.append((s, n))
    t.eq(sorted(n for _, n in held), ["A"] * 3 + ["B"] * 3, "6 held connections")
    # a 7th cannot be served by anyone: it must not reach a server
    s7 = connect(addr)
    line = recv_line(s7, 1.0)
    t.eq(line, None, "a 7th connection with both servers full")
    t.check(a.stats()["max_active"] <= 3 and b.stats()["max_active"] <= 3,
            "max_connections exceeded: A %d, B %d" % (a.stats()["max_active"], b.stats()["max_active"]))
    s7.close()
    # free a slot on A: served by A
    for s, n in held:
        if n == "A":
            s.close()
            held.remove((s, n))
            break
    t.check(wait_until(lambda: a.stats()["active"] == 2, 2), "close not seen at A")
    time.sleep(0.1)
    t.eq(t.identify(addr), "A", "after a slot freed on A")
    for s, _ in held:
        s.close()
    t.check(wait_until(lambda: a.stats()["active"] + b.stats()["active"] == 0, 2), "closes not seen")

    # burst: 60 concurrent clients holding 300 ms each
    res = []
    lock = threading.Lock()

    def client():
        try:
            s = connect(addr, timeout=3)
            n = recv_line(s, 3)
            if n:
                time.sleep(0.3)
            s.close()
        except OSError:
            n = None
        with lock:
            res.append(n)

    ths = [threading.Thread(target=client, daemon=True) for _ in range(60)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(10)
    served = sum(1 for n in res if n)
    t.log("burst: %d of 60 served; peak A %d, B %d" % (served, a.stats()["max_active"], b.stats()["max_active"]))
    t.check(a.stats()["max_active"] <= 3, "A had %d concurrent connections (max 3)" % a.stats()["max_active"])
    t.check(b.stats()["max_active"] <= 3, "B had %d concurrent connections (max 3)" % b.stats()["max_active"])
    t.check(served >= 6, "only %d burst clients served" % served)


run(test)
