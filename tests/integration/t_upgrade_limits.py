"""Issue 20 item 9: global max_connections holds across a binary upgrade:
the sessions the old process still drains count against it in the new
process (they did not: the limit doubled).  Per-source limits and rate
buckets are per process (documented in tcplb.yaml(5))."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from upglib import *


def test(t):
    a = t.identify_backend("A")
    sock = t.path("admin.sock")
    port = free_port()
    cfg = t.write("tcplb.yaml", """\
global:
  admin_socket: %s
  max_connections: 4
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    servers: ["%s"]
""" % (sock, port, a.hostport))
    run = UpgradeRun(t, cfg)
    held = []
    for i in range(3):
        s, name = t.hold(("127.0.0.1", port))
        t.eq(name, "A")
        held.append(s)
    run.upgrade()
    t.check(wait_until(lambda: admin_json(sock, "show info")["active_connections_all"] == 3, 5),
            "the old process's sessions are not counted")
    time.sleep(0.6)     # the board is read a few times a second
    served = 0
    for i in range(3):
        s, name = t.hold(("127.0.0.1", port), timeout=1.5)
        if name == "A":
            served += 1
        held.append(s)
    t.eq(served, 1, "new sessions served beside 3 draining ones under max_connections 4")
    for s in held:
        s.close()
    t.eq(run.lb.wait(10), 0)
    run.stop_main()


run(test)
