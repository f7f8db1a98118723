"""A reload applies pool settings to new sessions (idle_timeout), and a
session whose pool and listener were renamed away keeps running."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *

CFG = """\
listeners:
  %s:
    bind: 127.0.0.1:%d
    pool: %s
pools:
  %s:
    idle_timeout: %s
    servers:
      - %s
"""


def test(t):
    a = t.backend("echo")
    port = free_port()
    addr = ("127.0.0.1", port)
    lb = t.start_config(CFG % ("front", port, "p", "p", "10m", a.hostport))
    old = connect(addr)
    t.check(t.echo_ok(old, b"old"), "echo before reload")
    # rename listener and pool, shorten idle_timeout
    t.reload(lb, CFG % ("front2", port, "q", "q", "1s", a.hostport))
    new = connect(addr)
    t.check(t.echo_ok(new, b"new"), "echo after reload")
    t0 = time.monotonic()
    data, how = recv_until_eof(new, 4)
    dt = time.monotonic() - t0
    t.log("new session closed by %s after %.2fs idle" % (how, dt))
    t.check(how in ("eof", "reset") and 0.9 <= dt <= 2.5,
            "new session (idle_timeout 1s after reload): %s after %.2fs" % (how, dt))
    # the old session lives on (its pool no longer exists)
    for i in range(3):
        t.check(t.echo_ok(old, b"old still %d" % i), "old session echo #%d" % i)
    old.close()
    new.close()


run(test)
