"""A binary upgrade carries the servers' health state as a reload does: a
server the old process's checks hold down is down in the new process from
its first moment (its READY=1 STATUS= says so before any check of its own
has run), not UP until a check fails again; a server whose pool was
renamed keeps its state too (it follows the address, as in a reload)."""
import sys, os, shutil
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def test(t):
    a = t.identify_backend("A")
    dead = refused_port()
    port = free_port()
    exe = t.path("tcplb-bin")
    shutil.copyfile(t.bin, exe)
    os.chmod(exe, 0o755)
    cfg = """\
listeners:
  front: {bind: "127.0.0.1:%d", pool: %s}
pools:
  %s:
    health_check: {interval: 10s, timeout: 500ms, fall: 1, rise: 1}
    servers: ["%s", "127.0.0.1:%d"]
"""
    path = t.write("tcplb.yaml", cfg % (port, "p", "p", a.hostport, dead))
    n = t.notify_receiver()
    lb = t.start(["-w", os.environ.get("TCPLB_TEST_WORKERS", "2"), "-c", path,
                  "--log-target", "stderr"], env={"NOTIFY_SOCKET": n.path}, argv0=[exe])
    t.check(n.wait_for("READY=1", timeout=5), "no READY=1 at start")
    t.check(lb.wait_stderr(r"server p/127\.0\.0\.1:%d is DOWN" % dead, timeout=10),
            "the dead server was not marked down")

    # The pool is renamed in the file (no reload): the state follows the
    # address, as a reload would carry it.
    t.write("tcplb.yaml", cfg % (port, "q", "q", a.hostport, dead))
    start = n.count()
    lb.signal(signal.SIGUSR2)
    r = n.wait_for("MAINPID=", start=start, timeout=15)
    t.check(r, "no MAINPID= after SIGUSR2")
    new_pid = int([l for l in r[1].split("\n") if l.startswith("MAINPID=")][0].split("=")[1])
    ready = n.wait_for("READY=1", start=r[0] + 1, timeout=5)
    t.check(ready, "no READY=1 from the new process")
    status = [l for l in ready[1].split("\n") if l.startswith("STATUS=")]
    t.log("new process: %s" % status)
    t.check(status and "1/2 servers up" in status[0],
            "the new process does not start with the dead server down: %r" % status)
    for i in range(6):
        t.eq(t.identify(("127.0.0.1", port)), "A", "after the upgrade #%d" % i)
    os.kill(new_pid, signal.SIGTERM)
    t.check(wait_until(lambda: not os.path.exists("/proc/%d" % new_pid) or
                       open("/proc/%d/stat" % new_pid).read().rsplit(")", 1)[1].split()[0] == "Z", 10),
            "the new process did not stop")
    t.eq(lb.wait(10), 0, "the old process exits 0")


run(test)
