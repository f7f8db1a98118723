"""SIGHUP during a binary upgrade: `systemctl reload` signals the main
process, which is still the old one while the new process starts.  The
new process may already have read the file before the edit; the reload
must not be lost at the handover.  Here the new process's load is held
up by a slow name server (global.resolvers) after it has read the file;
meanwhile the file changes and the old process gets SIGHUP.  After the
upgrade the new configuration must be in force."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from slowdns import SlowDns, ProcessKiller

DELAY_S = 1.5       # below the resolver's 2 s query timeout


def test(t):
    a = t.identify_backend("A")
    b = t.identify_backend("B")
    dns = SlowDns()
    t.add_closer(dns)
    port = free_port()
    addr = ("127.0.0.1", port)
    text = """\
global:
  shutdown_timeout: 5s
  resolvers: ["%s"]
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    servers: ["app.test:%%d"]
""" % (dns.server, port)
    cfg = t.write("tcplb.yaml", text % a.port)
    n = t.notify_receiver()
    lb = t.start(["-w", os.environ.get("TCPLB_TEST_WORKERS", "2"), "-c", cfg,
                  "--log-target", "stderr"], env={"NOTIFY_SOCKET": n.path})
    t.check(n.wait_for("READY=1", timeout=10), "no READY=1 at start")
    t.eq(t.identify(addr), "A", "before the upgrade")

    dns.delay = DELAY_S
    seen = len(dns.queries)
    start = n.count()
    lb.signal(signal.SIGUSR2)
    # The new process has read the file once it asks for app.test.
    t.check(wait_until(lambda: len(dns.queries) > seen, 10),
            "the new process never resolved app.test")
    dns.delay = 0.0
    t.write("tcplb.yaml", text % b.port)
    lb.signal(signal.SIGHUP)
    r = n.wait_for("MAINPID=", start=start, timeout=15)
    t.check(r, "no MAINPID= after SIGUSR2")
    new_pid = int([l for l in r[1].split("\n") if l.startswith("MAINPID=")][0][8:])
    t.add_closer(ProcessKiller(new_pid))
    t.log("new main process %d" % new_pid)
    got = []
    t.check(wait_until(lambda: got.append(t.identify(addr)) or got[-1] == "B", 8,
                       interval=0.2),
            "the reload asked for during the upgrade was lost: the new main "
            "process serves %r (the file says B)" % got[-1:])
    t.eq(lb.wait(10), 0, "exit status of the old process")
    os.kill(new_pid, signal.SIGTERM)


run(test, timeout=60)
