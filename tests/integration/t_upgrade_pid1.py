"""Issue 20 item 10: as PID 1 of a PID namespace (a container's init), a
binary upgrade cannot hand over -- the new process would be re-parented
to the exiting old one, and the kernel kills the namespace with it.
SIGUSR2 is refused with a message that says why and what to do, and
tcplb serves on.  (Skipped where unshare(1) cannot make a namespace.)"""
import sys, os, shutil
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from upglib import *


def test(t):
    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run([unshare, "--pid", "--fork", "--mount-proc", "true"],
                                         capture_output=True).returncode != 0:
        raise Skip("no PID namespace here (unshare --pid needs privileges)")
    a = t.identify_backend("A")
    port = free_port()
    cfg = t.write("tcplb.yaml", """\
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    servers: ["%s"]
""" % (port, a.hostport))
    lb = t.start(["-w", "2", "-c", cfg, "--log-target", "stderr"],
                 argv0=[unshare, "--pid", "--fork", "--mount-proc", "--kill-child", t.bin])
    t.check(wait_until(lambda: "listening on" in lb.stderr(), 10), "no start")
    t.check(wait_until(lambda: t.identify(("127.0.0.1", port)) == "A", 5), "not served")
    # tcplb is unshare's child (PID 1 inside)
    kids = open("/proc/%d/task/%d/children" % (lb.pid, lb.pid)).read().split()
    t.eq(len(kids), 1, "unshare has one child")
    pid = int(kids[0])
    t.check("NSpid:\t%d\t1" % pid in open("/proc/%d/status" % pid).read(), "tcplb is PID 1 inside")
    os.kill(pid, signal.SIGUSR2)
    t.check(lb.wait_stderr(r"runs as PID 1 .*cannot hand over.*--init", timeout=5),
            "no clear refusal: %s" % lb.stderr()[-800:])
    time.sleep(0.5)
    t.check(pid_alive(pid), "tcplb died on SIGUSR2 as PID 1")
    for i in range(3):
        t.eq(t.identify(("127.0.0.1", port)), "A", "still served")
    os.kill(pid, signal.SIGTERM)
    t.eq(lb.wait(10), 0)


run(test)
