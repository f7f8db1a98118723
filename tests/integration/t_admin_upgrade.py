"""A binary upgrade (SIGUSR2) carries what the admin socket set -- server
state and weight -- and the connection totals into the new process, as a
reload does; the new process's admin socket answers at the same path."""
import sys, os, shutil
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def test(t):
    a = t.identify_backend("A")
    b = t.identify_backend("B")
    port = free_port()
    sock = t.path("admin.sock")
    exe = t.path("tcplb-bin")
    shutil.copyfile(t.bin, exe)
    os.chmod(exe, 0o755)
    path = t.write("tcplb.yaml", """\
global:
  admin_socket: %s
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    balance: leastconn
    servers:
      - {address: "%s", name: a}
      - {address: "%s", name: b, weight: 2}
""" % (sock, port, a.hostport, b.hostport))
    n = t.notify_receiver()
    lb = t.start(["-w", os.environ.get("TCPLB_TEST_WORKERS", "2"), "-c", path,
                  "--log-target", "stderr"], env={"NOTIFY_SOCKET": n.path}, argv0=[exe])
    t.check(n.wait_for("READY=1", timeout=5), "no READY=1 at start")
    for i in range(4):
        t.check(t.identify(("127.0.0.1", port)) in ("A", "B"), "served")
    before = {x["server"]: x["total"] for x in admin_json(sock, "show servers")["servers"]}
    t.eq(sum(before.values()), 4)
    pool_before = admin_json(sock, "show pools")["pools"][0]["total"]
    t.eq(pool_before, 4)
    admin_send(sock, "set server p/a state maint")
    admin_send(sock, "set server p/b weight 7")

    start = n.count()
    lb.signal(signal.SIGUSR2)
    r = n.wait_for("MAINPID=", start=start, timeout=15)
    t.check(r, "no MAINPID= after SIGUSR2")
    new_pid = int([l for l in r[1].split("\n") if l.startswith("MAINPID=")][0].split("=")[1])
    t.check(n.wait_for("READY=1", start=r[0] + 1, timeout=5), "no READY=1 from the new process")
    info = wait_until(lambda: (lambda j: j if j["pid"] == new_pid else None)(
        admin_json(sock, "show info")), timeout=10)
    t.check(info, "the admin socket is not answered by the new process")
    st = {x["server"]: x for x in admin_json(sock, "show servers")["servers"]}
    t.eq(st["a"]["admin"], "maint", "admin state carried")
    t.eq(st["b"]["weight"], 7, "weight carried")
    t.eq({k: v["total"] for k, v in st.items()}, before, "connection totals carried")
    t.eq(admin_json(sock, "show pools")["pools"][0]["total"], pool_before,
         "the pool's own total carried")
    for i in range(4):
        t.eq(t.identify(("127.0.0.1", port)), "B", "maint server gets nothing after the upgrade")
    # the old process finishes and exits: the new one's socket stays
    t.eq(lb.wait(10), 0, "the old process exits 0")
    t.eq(admin_json(sock, "show info")["pid"], new_pid, "socket still answered after the old exit")
    os.kill(new_pid, signal.SIGTERM)
    t.check(wait_until(lambda: not os.path.exists("/proc/%d" % new_pid) or
                       open("/proc/%d/stat" % new_pid).read().rsplit(")", 1)[1].split()[0] == "Z", 10),
            "the new process did not stop")


run(test)
