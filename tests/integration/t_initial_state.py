"""initial_state for pools with health checks (HAProxy's init-state).
down: no client reaches a server before its first check passed; the first
passing check brings it up.  up (the default): servers take clients at once,
and the first failed check marks one down (not `fall` of them)."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def hc_handler(kind):
    def h(c, b):
        first = c.recv(64)
        if first.startswith(b"PING"):
            c.sendall(b"+PONG\r\n" if kind == "good" else b"-ERR\r\n")
            return
        b.record("traffic")
        c.sendall(b.name.encode() + b"\n")
    return h


def ask(addr, timeout=2):
    try:
        s = connect(addr, timeout=timeout)
    except OSError:
        return None
    try:
        s.sendall(b"HELLO\n")
        return recv_line(s, timeout)
    finally:
        s.close()


CFG = """\
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    retries: 0
    max_fails: 0
%s    health_check: {interval: 1s, timeout: 300ms, rise: 3, fall: 3,
                   send: "PING\\r\\n", expect: "+PONG"}
    servers:
      - {address: "%s", name: good}
      - {address: "%s", name: bad}
"""


def test(t):
    good = t.thread_backend(hc_handler("good"), name="good")
    bad = t.thread_backend(hc_handler("bad"), name="bad")

    # down: before any check, nobody is served; the good server is up
    # after its first passing check (not rise = 3 of them, 2 s), the bad
    # one never.
    port = free_port()
    addr = ("127.0.0.1", port)
    lb = t.start_config(CFG % (port, "    initial_state: down\n", good.hostport, bad.hostport))
    t0 = time.monotonic()
    m = lb.wait_stderr(r"server p/good .*is UP", timeout=3)
    t.check(m, "good never came up")
    t_up = time.monotonic() - t0
    t.log("initial_state down: good up after %.2fs: %s" % (t_up, m.group(0)))
    t.check(t_up < 1.0 + 0.3 + 0.5, "good came up after %.2fs: the first passing check "
            "should be enough" % t_up)
    names = [ask(addr) for _ in range(10)]
    t.eq(set(names), {"good"}, "servers used with initial_state down")
    t.eq(len(bad.results), 0, "clients that reached the failing server")
    t.check(not re.search(r"bad.* is (UP|DOWN)", lb.stderr()), "bad changed state")
    lb.stop()

    # up (the default): the bad server serves at once and its first failed
    # check marks it down, well before fall (3) checks.
    port = free_port()
    addr = ("127.0.0.1", port)
    t.notify = None
    lb = t.start_config(CFG % (port, "", good.hostport, bad.hostport), cfg_name="up.yaml")
    t0 = time.monotonic()
    first = [ask(addr) for _ in range(4)]
    t.log("initial_state up, right after start:", first)
    t.check("bad" in first, "with initial_state up the bad server should serve at first")
    m = lb.wait_stderr(r"server p/bad .*is DOWN", timeout=4)
    t.check(m, "bad never marked down")
    t_down = time.monotonic() - t0
    t.log("bad down after %.2fs: %s" % (t_down, m.group(0)))
    t.check(t_down < 1.0 + 0.3 + 0.5, "bad marked down after %.2fs: the first failed check "
            "should be enough" % t_down)
    t.check(not re.search(r"good.* is (UP|DOWN)", lb.stderr()), "good changed state")

    # -t: initial_state needs a health_check in the pool
    bad_cfg = t.write("bad.yaml", """\
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    initial_state: down
    servers: ["%s"]
""" % (free_port(), good.hostport))
    rc, out, err = t.run_tcplb(["-t", "-c", bad_cfg])
    t.log("-t:", rc, err.strip())
    t.eq(rc, 78, "exit status of -t for initial_state without a health_check")
    t.check(re.search(r"bad\.yaml:5:5: pools\.p\.initial_state: needs a health_check", err),
            "no FILE:LINE:COL error for initial_state without a check: %r" % err)


run(test)
