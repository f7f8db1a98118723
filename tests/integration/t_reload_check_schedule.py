"""Reloads faster than the check interval must not starve health checks: a
server that stays across a reload keeps its check schedule.  With a SIGHUP
every 0.5 s and interval 2s, a dead server late in the check spread is still
marked down within a bounded time, and clients stop failing.

Then checks carried across reloads while in flight: reloads that change
what a check sends and expects, drop the check, bring it back, and replace
the server, against a server that replies slowly -- no crash, no leak (the
sanitizer build), and the server is up at the end."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def test(t):
    live = [t.identify_backend("s%d" % i) for i in range(3)]
    dead_port = refused_port()
    port = free_port()
    addr = ("127.0.0.1", port)
    # The dead server is last: its first check is 3/4 of an interval in.
    # Passive marking off and no retries, so only the checker can save
    # clients from it.
    cfg = """\
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    retries: 0
    max_fails: 0
    health_check: {interval: 2s, timeout: 500ms, rise: 1, fall: 1}
    servers: ["%s", "%s", "%s", "127.0.0.1:%d"]
""" % (port, live[0].hostport, live[1].hostport, live[2].hostport, dead_port)
    lb = t.start_config(cfg)
    t0 = time.monotonic()
    down = None
    while time.monotonic() - t0 < 7.0:
        t.reload(lb)
        if lb.wait_stderr(r"is DOWN", timeout=0.01):
            down = time.monotonic() - t0
            break
        time.sleep(0.5)
    t.log("dead server marked down after %s s of reloads every 0.5 s" % down)
    t.check(down is not None and down <= 2 * 2.0 + 1.0,
            "the dead server was not marked down within 5 s while reloading")
    # Keep reloading: clients no longer fail.
    fails = 0
    for i in range(32):
        if i % 8 == 0:
            t.reload(lb)
        if t.identify(addr) is None:
            fails += 1
    t.eq(fails, 0, "clients that failed after the dead server was marked down")
    lb.stop()

    def slow(c, b):
        d = c.recv(64)
        time.sleep(0.15)
        if d.startswith(b"PING"):
            c.sendall(b"+PONG\r\n")
        elif d.startswith(b"HI"):
            c.sendall(b"HELLO\r\n")

    s = t.thread_backend(slow, name="slow")
    port = free_port()
    base = """\
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
"""  % port
    check = "    health_check: {interval: %s, timeout: 1s, rise: 1, fall: 1, send: \"%s\", expect: \"%s\"}\n"
    srv = "    servers: [\"%s\"]\n"
    files = [
        base + check % ("100ms", "PING\\r\\n", "+PONG") + srv % s.hostport,
        base + check % ("300ms", "HI\\r\\n", "HELLO") + srv % s.hostport,
        base + srv % s.hostport,
        base + check % ("50ms", "PING\\r\\n", "+PONG") + srv % "127.0.0.1:1",
    ]
    t.notify = None
    lb = t.start_config(files[0], cfg_name="flip.yaml")
    for i in range(24):
        t.reload(lb, files[i % len(files)])
        time.sleep(0.04 * (i % 4))
    off = len(lb.stderr())
    t.reload(lb, files[0])
    t.check(lb.alive(), "tcplb died during the reloads")
    # settled: the slow server passes its checks (it replies within the
    # timeout), so the last file never marks it down
    time.sleep(1.0)
    t.check(lb.alive(), "tcplb died after the reloads")
    t.check(not re.search(re.escape(s.hostport) + r".* is DOWN", lb.stderr()[off:]),
            "the slow server was marked down after the last reload:\n" + lb.stderr()[off:])


run(test)
