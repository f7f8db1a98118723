"""Reload swaps the pool: new connections go to the new backend while an
open session keeps running to the old one."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *

CFG = """\
listeners:
  front:
    bind: 127.0.0.1:%d
    pool: p
pools:
  p:
    servers:
      - %s
"""


def test(t):
    a = t.identify_backend("A")
    b = t.identify_backend("B")
    port = free_port()
    addr = ("127.0.0.1", port)
    lb = t.start_config(CFG % (port, a.hostport))
    s, name = t.hold(addr)
    t.eq(name, "A", "served before reload")
    t.check(t.echo_ok(s, b"before"), "echo before reload")
    msgs = t.reload(lb, CFG % (port, b.hostport))
    t.log("reload datagrams:", msgs)
    for i in range(5):
        t.eq(t.identify(addr), "B", "new connection #%d after reload" % i)
    a_bytes = a.stats()["bytes_in"]
    for i in range(5):
        payload = b"old session still on A %d\n" % i
        t.check(t.echo_ok(s, payload), "old session echo #%d after reload" % i)
    t.check(wait_until(lambda: a.stats()["bytes_in"] > a_bytes, 1),
            "A did not receive the old session's bytes after the reload")
    t.eq(a.stats()["active"], 1, "sessions at A")
    s.close()
    t.check(wait_until(lambda: a.stats()["active"] == 0, 2), "old session not closed at A")
    # and back again
    t.reload(lb, CFG % (port, a.hostport))
    t.eq(t.identify(addr), "A", "after reloading back")


run(test)
