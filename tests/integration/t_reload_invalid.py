"""Reload with an invalid file changes nothing: the old configuration keeps
serving, READY=1 comes with a STATUS= naming the error, stderr has
FILE:LINE:COL."""
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
    retries: %s
    servers:
      - %s
"""


def test(t):
    a = t.identify_backend("A")
    b = t.identify_backend("B")
    port = free_port()
    addr = ("127.0.0.1", port)
    lb = t.start_config(CFG % (port, "1", a.hostport), cfg_name="svc.yaml")
    s, name = t.hold(addr)
    t.eq(name, "A", "served before reload")
    bad = CFG % (port, "plenty", b.hostport)
    bad_line = t.line_of(bad, "retries:")
    err_off = len(lb.stderr())
    msgs = t.reload(lb, bad)
    t.log("reload datagrams:", msgs)
    t.check(lb.alive(), "tcplb exited on an invalid reload")
    status = [l for m in msgs for l in m.split("\n") if l.startswith("STATUS=")]
    t.check(status, "no STATUS= between RELOADING=1 and READY=1")
    t.check(any("svc.yaml" in l and str(bad_line) in l for l in status),
            "STATUS= does not name the file and line %d: %s" % (bad_line, status))
    m = lb.wait_stderr(r"svc\.yaml:%d:\d+:" % bad_line, timeout=2, start=err_off)
    t.check(m, "stderr has no svc.yaml:%d:COL: message" % bad_line)
    for i in range(5):
        t.eq(t.identify(addr), "A", "connection #%d after the failed reload" % i)
    t.eq(b.stats()["accepted"], 0, "connections that reached B")
    t.check(t.echo_ok(s), "old session after the failed reload")
    # a good file afterwards is applied
    t.reload(lb, CFG % (port, "1", b.hostport))
    t.eq(t.identify(addr), "B", "after a valid reload")


run(test)
