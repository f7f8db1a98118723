"""Last resort: when no server of a pool is available and some are down only
because real traffic sent them to rest (max_fails/fail_timeout), tcplb picks
among the resting servers instead of refusing every client -- even with an
active check, whose rest (issue 16 item 6) would otherwise black-hole the
pool although the servers are back.

1. One-server pool, check on, fail_timeout 60s: after one failed client the
   server rests (DOWN, stays down), yet the next clients are served.
2. Two servers and a backup, all restarted at once: every one rests, every
   client is still served.
3. A resting server whose check then fails `fall` times is down by the
   check, no longer a last resort: refused at once, no connect attempted."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *

CFG = """\
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    balance: first
    retries: %d
    max_fails: 1
    fail_timeout: 60s
    health_check: {interval: 100ms, timeout: 300ms, rise: 1, fall: 2}
    servers: [%s]
"""


def srv(name, b, backup=False):
    return '{address: "%s", name: %s%s}' % (b.hostport, name,
                                            ", backup: true" if backup else "")


def restart(t, b, name):
    port = b.port
    b.close()
    return port


def settle():
    # A server never checked yet changes state on its first check result
    # (initial_state up, HAProxy's init-state): let that first check pass
    # (interval 100ms) before stopping servers, so what marks them down
    # here is the traffic.
    time.sleep(0.35)


def test(t):
    # 1. One server.
    s = t.identify_backend("s")
    port = free_port()
    addr = ("127.0.0.1", port)
    lb = t.start_config(CFG % (port, 0, srv("s", s)))
    t.check(wait_until(lambda: t.identify(addr) == "s", 2), "not served at first")
    settle()
    off = len(lb.stderr())
    sport = s.port
    s.close()
    t.eq(t.identify(addr), None, "a client while the server is stopped")
    t.check(lb.wait_stderr(r"server p/s \(.*\) is DOWN.*", timeout=2, start=off),
            "the failed connection did not mark the server down")
    s = t.identify_backend("s", port=sport)
    # While the server was stopped its check may have failed `fall` times
    # too (a slow machine): it is then a last resort again only once a
    # check passes, a few intervals -- far inside the 60s rest.
    t.check(wait_until(lambda: t.identify(addr) == "s", 2),
            "the restarted server was not used while it rests")
    for i in range(5):
        t.eq(t.identify(addr), "s", "client %d while the only server rests" % i)
    t.check(not re.search(r"is UP", lb.stderr()[off:]),
            "the rest (60s) was not honoured for the state:\n" + lb.stderr()[off:])
    lb.stop()

    # 2. Every server (backup included) rests.
    a = t.identify_backend("a")
    b = t.identify_backend("b")
    k = t.identify_backend("k")
    port = free_port()
    addr = ("127.0.0.1", port)
    lb = t.start_config(CFG % (port, 2, ", ".join(
        [srv("a", a), srv("b", b), srv("k", k, backup=True)])), cfg_name="all.yaml")
    t.check(wait_until(lambda: t.identify(addr) == "a", 2), "not served at first")
    settle()
    off = len(lb.stderr())
    ports = [x.port for x in (a, b, k)]
    for x in (a, b, k):
        x.close()
    # One client tries a, b, then the backup k: all three rest.
    t.eq(t.identify(addr), None, "a client while every server is stopped")
    for n in ("a", "b", "k"):
        t.check(lb.wait_stderr(r"server p/%s \(.*\) is DOWN.*" % n, timeout=2, start=off),
                "%s not marked down:\n%s" % (n, lb.stderr()[off:]))
    a, b, k = [t.identify_backend(n, port=p) for n, p in zip("abk", ports)]
    got = [t.identify(addr) for _ in range(6)]
    t.log("served by", got)
    t.check(all(g in ("a", "b", "k") for g in got),
            "clients refused while every server rests but is up: %r" % got)
    lb.stop()

    # 3. The check condemns a resting server: refused, quickly.
    s = t.identify_backend("s")
    port = free_port()
    addr = ("127.0.0.1", port)
    lb = t.start_config(CFG % (port, 0, srv("s", s)), cfg_name="dead.yaml")
    t.check(wait_until(lambda: t.identify(addr) == "s", 2), "not served at first")
    settle()
    off = len(lb.stderr())
    s.close()
    t.eq(t.identify(addr), None, "a client while the server is stopped")
    t.check(lb.wait_stderr(r"server p/s \(.*\) is DOWN.*", timeout=2, start=off),
            "not marked down")
    time.sleep(0.6)     # > fall (2) failed checks at 100ms
    off2 = len(lb.stderr())
    t.eq(t.identify(addr), None, "a client while the server is dead")
    time.sleep(0.2)
    t.check(not re.search(r"retry failed|connect.*refused|connection refused",
                          lb.stderr()[off2:]),
            "a connect was attempted to a server the check found dead:\n" +
            lb.stderr()[off2:])


run(test)
