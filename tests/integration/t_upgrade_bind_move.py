"""Issue 20 item 4: a bind that moves between 0.0.0.0:P and 127.0.0.1:P
survives a restart (the fd store passes the old group back) and a binary
upgrade (the old process passes it): the passed-in sockets are tcplb's
own, not "another program listens there".  And a SIGHUP that adds a
listener while an upgrade is under way does not fail either process."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from upglib import *
from slowdns import SlowDns

CFG = """\
global:
  shutdown_timeout: 2s
%s
listeners:
  front: {bind: ["%s"], pool: p}
%s
pools:
  p:
    servers: ["%s"]
"""


def test(t):
    a = t.identify_backend("A")
    port = free_port_all()
    w = os.environ.get("TCPLB_TEST_WORKERS", "2")

    # ---- restart after narrowing 0.0.0.0:P to 127.0.0.1:P -----------------
    cfg = t.write("tcplb.yaml", CFG % ("", "0.0.0.0:%d" % port, "", a.hostport))
    store = FdStore(t)
    lb = t.start(["-w", w, "-c", cfg, "--log-target", "stderr"],
                 env={"NOTIFY_SOCKET": store.path})
    t.check(wait_until(lambda: store.count() >= 1 and store.ready(), 10), "nothing stored")
    lb.signal(signal.SIGTERM)
    t.eq(lb.wait(10), 0)
    t.write("tcplb.yaml", CFG % ("", "127.0.0.1:%d" % port, "", a.hostport))
    snap = store.snapshot()
    p = start_with_fds(t, ["-w", w, "-c", cfg, "--log-target", "stderr"],
                       [fd for _, fd in snap], [n for n, _ in snap])
    t.check(wait_until(lambda: "listening on 127.0.0.1:%d" % port in open(p.stderr_path).read()
                       or p.poll() is not None, 10) and p.poll() is None,
            "restart after narrowing the bind failed: %s" % open(p.stderr_path).read()[-1500:])
    t.eq(t.identify(("127.0.0.1", port)), "A", "served after the restart")
    p.send_signal(signal.SIGTERM)
    p.wait(10)
    store.close()

    # ---- sockets stored by tcplb 0.1.0 (long names) are adopted and stored
    # again under compact names, so LISTEN_FDNAMES stays short ------------
    old_fds, olds = [], []
    for i in range(2):
        so = socket.socket()
        so.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        so.bind(("127.0.0.1", port))
        so.listen(16)
        olds.append(so)
        old_fds.append(so.fileno())
    legacy = "tcplb-ls-127.0.0.1_%d-127.0.0.1_%d" % (port, port)
    store = FdStore(t)
    p = start_with_fds(t, ["-w", w, "-c", cfg, "--log-target", "stderr"], old_fds,
                       [legacy] * 2, env={"NOTIFY_SOCKET": store.path}, name="legacy")
    t.check(wait_until(lambda: (store.count() >= 2 and store.ready()) or p.poll() is not None, 10) and
            p.poll() is None, "tcplb with 0.1.0's names: %s" % open(p.stderr_path).read()[-1500:])
    log = open(p.stderr_path).read()
    t.check("'%s' bound to 127.0.0.1:%d" % (legacy, port) in log and
            "cannot listen" not in log, "0.1.0's sockets not adopted: %s" % log[-1500:])
    t.eq(t.identify(("127.0.0.1", port)), "A", "served on 0.1.0's sockets")
    names = set(n for n, _ in store.snapshot())
    t.check(len(names) == 1 and names.pop().startswith("tcplb-L-"),
            "stored again under a compact name: %r" % store.msgs)
    t.check(any("FDSTOREREMOVE=1" in m and legacy in m for m in store.msgs),
            "the long name is removed from the store")
    p.send_signal(signal.SIGTERM)
    p.wait(10)
    store.close()
    for so in olds:
        so.close()

    # ---- upgrade after narrowing, then after widening ---------------------
    t.write("tcplb.yaml", CFG % ("", "0.0.0.0:%d" % port, "", a.hostport))
    run = UpgradeRun(t, cfg)
    t.write("tcplb.yaml", CFG % ("", "127.0.0.1:%d" % port, "", a.hostport))
    run.upgrade()
    t.eq(t.identify(("127.0.0.1", port)), "A", "served after the narrowing upgrade")
    t.eq(run.lb.wait(10), 0, "the old process exits 0")
    t.write("tcplb.yaml", CFG % ("", "0.0.0.0:%d" % port, "", a.hostport))
    run.upgrade()
    # (a connection that reached the old process's 127.0.0.1:P socket -- more
    # specific than 0.0.0.0:P -- just before it closed it is reset: retry)
    t.check(wait_until(lambda: t.identify(("127.0.0.1", port)) == "A", 5),
            "not served after the widening upgrade")

    # ---- SIGHUP adding a listener during an upgrade ------------------------
    dns = SlowDns()
    t.add_closer(dns)
    extra = free_port()
    text = lambda more: CFG % ('  resolvers: ["%s"]' % dns.server, "0.0.0.0:%d" % port,
                               more, "app.test:%d" % a.port)
    t.write("tcplb.yaml", text(""))
    os.kill(run.main, signal.SIGHUP)
    t.check(wait_until(lambda: t.identify(("127.0.0.1", port)) == "A", 10), "reload to DNS")
    dns.delay = 1.5
    seen = len(dns.queries)
    start = run.n.count()
    os.kill(run.main, signal.SIGUSR2)
    t.check(wait_until(lambda: len(dns.queries) > seen, 10), "the new process never resolved")
    dns.delay = 0.0
    t.write("tcplb.yaml", text('  side: {bind: "127.0.0.1:%d", pool: p}' % extra))
    os.kill(run.main, signal.SIGHUP)
    r = run.n.wait_for("MAINPID=", start=start, timeout=15)
    t.check(r, "the upgrade failed after a SIGHUP that added a listener: %s" %
            [m for m in run.n.messages(start) if "STATUS=" in m][-2:])
    new = int([l for l in r[1].split("\n") if l.startswith("MAINPID=")][0][8:])
    t.add_closer(Killer(new))
    got = []
    t.check(wait_until(lambda: got.append(t.identify(("127.0.0.1", extra))) or got[-1] == "A",
                       10, interval=0.2),
            "the listener added during the upgrade is not served")
    t.check(wait_until(lambda: not pid_alive(run.main), 10), "the old process did not exit")
    os.kill(new, signal.SIGTERM)
    t.check(wait_until(lambda: not pid_alive(new), 10), "the new process did not stop")


run(test)
