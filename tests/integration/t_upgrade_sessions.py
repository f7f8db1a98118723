"""Issue 20 item 7: after a binary upgrade the old process's sessions are
not invisible.  The new process's `show info` counts them
(active_connections_all) and lists the draining process with its own
admin socket, where `show sessions` and `shutdown sessions` reach them;
once they are gone the list is empty, which is how `tcplb ctl` tells that
the old process has finished.  Connection totals do not restart at 0."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from upglib import *


def test(t):
    a = t.backend("A")
    sock = t.path("admin.sock")
    port = free_port()
    cfg = t.write("tcplb.yaml", """\
global:
  admin_socket: %s
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    servers: [{address: "%s", name: a}]
""" % (sock, port, a.hostport))
    run = UpgradeRun(t, cfg)
    held = [connect(("127.0.0.1", port)) for _ in range(3)]
    for s in held:
        s.sendall(b"hi")
        recv_exact(s, 2)
    total = admin_json(sock, "show info")["total_connections"]
    t.eq(total, 3)
    old = run.main
    new = run.upgrade()
    t.check(wait_until(lambda: admin_json(sock, "show info")["pid"] == new, 10), "new socket")
    info = {}
    t.check(wait_until(lambda: info.update(admin_json(sock, "show info")) or
                       info.get("draining_processes"), 5), "no draining process listed")
    t.log("show info: %r" % {k: info[k] for k in ("active_connections", "active_connections_all",
                                                    "draining_processes", "total_connections")})
    t.eq(info["active_connections"], 0, "the new process's own")
    t.eq(info["active_connections_all"], 3, "all processes' sessions")
    d = info["draining_processes"]
    t.eq([(x["pid"], x["active_connections"]) for x in d], [(old, 3)])
    t.check(info["total_connections"] >= total, "connection totals restarted at %d" %
            info["total_connections"])
    text = admin_send(sock, "show info")
    t.check("draining processes: 1" in text and "pid %d: 3 active" % old in text,
            "text show info: %r" % text)
    rc, out, err = t.ctl(sock, "show", "info")
    t.check(rc == 0 and "pid %d" % old in out, "tcplb ctl show info names the old process")
    # its own admin socket reaches its sessions
    oldsock = d[0]["admin_socket"]
    t.eq(oldsock, sock + ".%d" % old)
    sess = admin_json(oldsock, "show sessions")
    t.eq(len(sess["sessions"]), 3, "show sessions at the old process's socket")
    t.eq(len(admin_json(sock, "show sessions")["sessions"]), 0, "the new one has none")
    ans = admin_send(oldsock, "shutdown sessions server p/a")
    t.check("3" in ans, "shutdown sessions at the old process: %r" % ans)
    for s in held:
        s.settimeout(3)
        try:
            while s.recv(100):
                pass
        except OSError:
            pass
    t.eq(run.lb.wait(10), 0, "the old process finished")
    t.check(wait_until(lambda: admin_json(sock, "show info")["draining_processes"] == [], 5),
            "the finished old process is still listed")
    t.eq(admin_json(sock, "show info")["active_connections_all"], 0)
    t.check(not os.path.exists(oldsock), "the old process removed its own socket")
    run.stop_main()


run(test)
