"""Issue 20 item 11: a pool whose name is long once escaped in the state
file (here 1,800 bytes: 200 times "é ") keeps its servers' state across a
binary upgrade -- a server its checks hold down is down in the new
process from its first moment -- and its connection totals; with a cap
of 512 bytes the line was skipped silently."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from upglib import *


def test(t):
    a = t.identify_backend("A")
    dead = refused_port()
    port = free_port()
    sock = t.path("admin.sock")
    name = "é " * 199 + "é"
    cfg = t.write("tcplb.yaml", """\
global:
  admin_socket: %s
listeners:
  front: {bind: "127.0.0.1:%d", pool: "%s"}
pools:
  "%s":
    health_check: {interval: 10s, timeout: 500ms, fall: 1, rise: 1}
    servers: ["%s", "127.0.0.1:%d"]
""" % (sock, port, name, name, a.hostport, dead))
    run = UpgradeRun(t, cfg)
    t.check(wait_until(lambda: [s["health"] for s in admin_json(sock, "show servers")["servers"]]
                       == ["up", "down"], 10), "the dead server was not marked down")
    for i in range(3):
        t.eq(t.identify(("127.0.0.1", port)), "A")
    start = run.n.count()
    run.upgrade()
    ready = [m for m in run.n.messages(start) if "READY=1" in m]
    t.log("new process: %r" % ready[-1:])
    t.check(ready and "1/2 servers up" in ready[-1],
            "the long-named pool's state was lost: %r" % ready[-1:])
    servers = admin_json(sock, "show servers")["servers"]
    t.eq(sum(s["total"] for s in servers), 3, "connection totals carried")
    t.eq(run.lb.wait(10), 0)
    run.stop_main()


run(test)
