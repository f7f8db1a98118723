"""With an active check, a server that real traffic marked down honours
fail_timeout and restarts the rise count: checks that passed before the
failure do not bring it back.

1. fail_timeout 60s, rise 2: not back within 1.5 s although every check
   after the failure passes.
2. fail_timeout 0s, rise 4, interval 250ms: back only after 4 checks begun
   after the failure (>= 3 intervals), not at the first one."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *

CFG = """\
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    retries: 0
    max_fails: 1
    fail_timeout: %s
    health_check: {interval: %s, timeout: 300ms, rise: %d, fall: 3}
    servers: [{address: "%s", name: s}]
"""


def fail_once(t, lb, s, addr):
    """Stop s, make one client fail on it (passive down), restart s on the
    same port at once.  Returns (the restarted backend, the time of the
    DOWN record)."""
    off = len(lb.stderr())
    port = s.port
    s.close()
    t.eq(t.identify(addr), None, "a client while the server is stopped")
    s2 = t.identify_backend("s", port=port)
    m = lb.wait_stderr(r"server p/s \(.*\) is DOWN.*", timeout=2, start=off)
    t.check(m, "the failed connection did not mark the server down")
    t.log(m.group(0))
    return s2, time.monotonic(), off


def test(t):
    # 1. fail_timeout 60s
    s = t.identify_backend("s")
    port = free_port()
    addr = ("127.0.0.1", port)
    lb = t.start_config(CFG % (port, "60s", "100ms", 2, s.hostport))
    # Let successes pile up (rise 2 reached many times over).
    t.check(wait_until(lambda: t.identify(addr) == "s", 2), "not served at first")
    time.sleep(0.5)
    s, t_down, off = fail_once(t, lb, s, addr)
    time.sleep(1.5)
    t.check(not re.search(r"is UP", lb.stderr()[off:]),
            "back before fail_timeout (60s):\n" + lb.stderr()[off:])
    t.eq(t.identify(addr), None, "a client while the server rests")
    t.eq(s.stats()["accepted"] > 0, True, "checks kept running during the rest")
    lb.stop()

    # 2. fail_timeout 0, rise 4: the count restarts at the failure.
    s = t.identify_backend("s2")
    port = free_port()
    addr = ("127.0.0.1", port)
    t.notify = None
    lb = t.start_config(CFG % (port, "0s", "250ms", 4, s.hostport), cfg_name="rise.yaml")
    t.check(wait_until(lambda: t.identify(addr) == "s2", 2), "not served at first")
    time.sleep(1.2)     # more than rise (4) successful checks
    s, t_down, off = fail_once(t, lb, s, addr)
    m = lb.wait_stderr(r"server p/s \(.*\) is UP.*", timeout=4, start=off)
    t.check(m, "never came back")
    t_up = time.monotonic() - t_down
    t.log("back after %.2fs: %s" % (t_up, m.group(0)))
    t.check(t_up >= 0.6, "back after %.2fs: successes from before the failure counted "
            "(rise 4 at 250ms needs >= 0.75s)" % t_up)


run(test)
