"""max_connections_per_source counts one client address's open connections
exactly across workers (two here, and SO_REUSEPORT spreads the client's
connections over both); a slot comes back when a connection closes; other
addresses are not affected; behind accept_proxy the header's source is
the one counted.  A reload keeps the counts."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from proxylib import *

CFG = """\
global:
  workers: 2
listeners:
  l:
    bind: "127.0.0.1:%(p1)d"
    pool: p
    max_connections_per_source: %(n)d
  proxied:
    bind: "127.0.0.1:%(p2)d"
    pool: p
    accept_proxy: true
    trusted: [127.0.0.1]
    max_connections_per_source: 2
pools:
  p:
    servers: ["%(be)s"]
"""


def hold(t, addr, source=None, header=b""):
    """Open a connection; (socket, served?)."""
    try:
        s = connect(addr, source=source)
    except ConnectionResetError:
        return None, False
    t.add_closer(s)
    try:
        if header:
            s.sendall(header)
        return s, recv_line(s, 3) == "A"
    except OSError:
        return s, False


def test(t):
    be = t.identify_backend("A")
    p1, p2 = free_port(), free_port()
    cfg = dict(p1=p1, p2=p2, be=be.hostport, n=3)
    lb = t.start_config(CFG % cfg)
    a1 = ("127.0.0.1", p1)
    try:
        connect(a1, source="127.0.0.2").close()
    except OSError as e:
        raise Skip("cannot bind to 127.0.0.2: %r" % e)
    wait_until(lambda: be.stats()["active"] == 0, 3)

    for round_ in range(3):
        held = []
        for i in range(3):
            if i == 0 and round_ > 0:
                # The backend sees the last round's closes before tcplb has
                # finished those sessions and freed their slots: a slow
                # build (ThreadSanitizer) may refuse the first one briefly.
                got = []

                def first():
                    s, ok = hold(t, a1, "127.0.0.2")
                    if ok:
                        got.append(s)
                    elif s:
                        s.close()
                    return ok
                ok = wait_until(first, 3)
                s = got[0] if got else None
            else:
                s, ok = hold(t, a1, "127.0.0.2")
            t.check(ok, "round %d: connection %d of 3 refused" % (round_, i + 1))
            held.append(s)
        # the fourth, fifth... from the same address are refused whatever
        # worker accepts them
        for i in range(6):
            s, ok = hold(t, a1, "127.0.0.2")
            t.check(not ok, "round %d: connection %d over the limit served" % (round_, 4 + i))
            if s:
                s.close()
        # another address is unaffected
        s, ok = hold(t, a1, "127.0.0.3")
        t.check(ok, "127.0.0.3 refused while 127.0.0.2 is at its limit")
        s.close()
        # one closed: one more allowed (once tcplb has seen the close)
        held.pop().close()
        def probe():
            s, ok = hold(t, a1, "127.0.0.2")
            if s:
                s.close()
            return ok
        t.check(wait_until(probe, 3), "round %d: the freed slot did not come back" % round_)
        for s in held:
            s.close()
        wait_until(lambda: be.stats()["active"] == 0, 3)
    t.check(lb.wait_stderr(r"refused 127\.0\.0\.2:\d+: max_connections_per_source reached"),
            "refusal not logged")

    # a reload with the same limit keeps the count of open connections
    held = [hold(t, a1, "127.0.0.4")[0] for _ in range(3)]
    t.reload(lb)
    s, ok = hold(t, a1, "127.0.0.4")
    t.check(not ok, "after a reload, a 4th connection from 127.0.0.4 was served")
    for s in held:
        s.close()

    # behind a proxy: counted per header source, not per proxy address
    # (after a pause: refusal records are rate-limited per second)
    time.sleep(1.1)
    a2 = ("127.0.0.1", p2)
    hx = [hold(t, a2, header=v1("192.0.2.1", 1000 + i, "192.0.2.9", 80)) for i in range(3)]
    t.eq([ok for _, ok in hx], [True, True, False], "2 per header source")
    s, ok = hold(t, a2, header=v1("192.0.2.2", 1, "192.0.2.9", 80))
    t.check(ok, "another header source refused")
    # IPv6 sources are counted per address too
    h6 = [hold(t, a2, header=v2("2001:db8::1", 2000 + i, "2001:db8::9", 443)) for i in range(3)]
    t.eq([ok for _, ok in h6], [True, True, False], "2 per IPv6 header source")
    s, ok = hold(t, a2, header=v2("2001:db8::2", 1, "2001:db8::9", 443))
    t.check(ok, "another IPv6 header source refused")
    t.check(lb.wait_stderr(r"refused 192\.0\.2\.1:1002: max_connections_per_source"),
            "proxied refusal not logged with the header's address")


run(test)
