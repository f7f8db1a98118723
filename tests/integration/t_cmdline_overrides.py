"""Command-line overrides stay in force across reloads: -v keeps debug
logging although the file says log_level: info, and -w keeps its worker
count without a "global.workers changed" warning on every reload."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def test(t):
    a = t.identify_backend("A")
    port = free_port()
    addr = ("127.0.0.1", port)
    cfg = """\
global:
  workers: 2
  log_level: info
  access_log: false
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    servers: ["%s"]
""" % (port, a.hostport)
    lb = t.start_config(cfg, extra=["-v", "-w", "1"])
    t.eq(t.identify(addr), "A", "before the reload")
    t.check(lb.wait_stderr(r"debug: session \d+: .*connected", timeout=2),
            "-v: no debug record before any reload")
    for i in range(2):
        off = len(lb.stderr())
        t.reload(lb)
        t.check(lb.wait_stderr(r"configuration reloaded", timeout=2, start=off), "no reload record")
        after = lb.stderr()[off:]
        t.check("global.workers changed" not in after,
                "reload %d warned although -w 1 is in force:\n%s" % (i + 1, after))
        t.eq(t.identify(addr), "A", "after reload %d" % (i + 1))
        t.check(lb.wait_stderr(r"debug: session \d+: .*connected", timeout=2, start=off),
                "-v was dropped by reload %d: no debug record after it" % (i + 1))


run(test)
