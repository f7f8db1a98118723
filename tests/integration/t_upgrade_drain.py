"""Issue 20 item 6: an instance drain (`tcplb ctl drain`) survives a
binary upgrade -- `check` keeps failing in the new process, so the
routing layer does not announce the node again -- and so does its
deadline: the new process stops accepting when the old one would have.
Item 8: admin changes answered by the old process while the new one
starts (here `set server ... state maint`) are not lost at the handover."""
import sys, os, re
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from upglib import *
from slowdns import SlowDns


def test(t):
    a = t.identify_backend("A")
    b = t.identify_backend("B")
    dns = SlowDns()
    t.add_closer(dns)
    sock = t.path("admin.sock")
    port = free_port()
    addr = ("127.0.0.1", port)
    cfg = t.write("tcplb.yaml", """\
global:
  admin_socket: %s
  resolvers: ["%s"]
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    servers:
      - {address: "app.test:%d", name: a}
      - {address: "%s", name: b}
""" % (sock, dns.server, port, a.port, b.hostport))
    run = UpgradeRun(t, cfg)

    def check():
        rc, out, err = t.ctl(sock, "check")
        return rc, (out + err).strip()

    # ---- drain without a deadline -------------------------------------
    t.eq(t.ctl(sock, "drain")[0], 0)
    t.eq(check()[0], 1, "check while draining")
    new = run.upgrade()
    t.check(wait_until(lambda: admin_json(sock, "show info")["pid"] == new, 10), "new socket")
    rc, msg = check()
    t.eq(rc, 1, "check after the upgrade of a drained instance: %s" % msg)
    t.check(re.search(r"^state: draining$", admin_send(sock, "show info"), re.M), "state draining")
    t.eq(t.identify(addr) in ("A", "B"), True, "a drained instance still serves")
    t.eq(t.ctl(sock, "undrain")[0], 0)
    t.eq(check()[0], 0, "undrain in the new process")
    t.eq(run.lb.wait(10), 0)

    # ---- drain with a deadline: it is kept -----------------------------
    t.eq(t.ctl(sock, "drain", "--deadline", "2s")[0], 0)
    t0 = time.monotonic()
    run.upgrade()
    log = run.lb.stderr()
    t.check(wait_until(lambda: re.search(r"tcplb\[%d\]: notice: drain deadline passed" % run.main,
                                         run.lb.stderr()), 6),
            "the new process did not keep the drain deadline")
    took = time.monotonic() - t0
    t.log("deadline passed in the new process %.2fs after the upgrade began" % took)
    t.check(1.0 <= took <= 4.0, "deadline moved: %.2fs" % took)
    t.eq(check()[0], 1)
    t.eq(t.ctl(sock, "undrain")[0], 0)
    t.eq(run.lb.wait(10), 0)

    # ---- admin writes while the new process starts --------------------
    dns.delay = 1.5
    seen = len(dns.queries)
    start = run.n.count()
    old = run.main
    os.kill(old, signal.SIGUSR2)
    t.check(wait_until(lambda: len(dns.queries) > seen, 10), "the new process never resolved")
    ans = admin_send(sock, "set server p/b state maint")
    t.check("state maint" in ans, "answered by the old process: %r" % ans)
    t.eq(admin_json(sock, "show info")["pid"], old, "the old process answered")
    ans = admin_send(sock, "reload")
    t.check("binary upgrade is under way" in ans, "reload during the upgrade: %r" % ans)
    dns.delay = 0.0
    r = run.n.wait_for("MAINPID=", start=start, timeout=15)
    t.check(r, "upgrade")
    new = int([l for l in r[1].split("\n") if l.startswith("MAINPID=")][0][8:])
    t.add_closer(Killer(new))
    t.check(wait_until(lambda: admin_json(sock, "show info")["pid"] == new, 10), "new socket")
    st = {s["server"]: s["admin"] for s in admin_json(sock, "show servers")["servers"]}
    t.eq(st.get("b"), "maint", "the change made during the upgrade was lost: %r" % st)
    for i in range(4):
        t.eq(t.identify(addr), "A", "b in maint gets nothing")
    os.kill(new, signal.SIGTERM)
    t.check(wait_until(lambda: not pid_alive(new), 10), "stop")


run(test)
