"""Out of descriptors (RLIMIT_NOFILE 64): tcplb neither dies nor spins;
once clients leave it serves again."""
import sys, os, resource
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def cpu_seconds(pid):
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def test(t):
    a = t.identify_backend("A")
    lb = t.start_quick([a.hostport], extra=["-w", "1"], nofile=64)
    t.eq(t.identify(lb.addr), "A", "served before the flood")
    held = []
    for i in range(80):
        try:
            s = connect(lb.addr, timeout=2)
        except OSError as e:
            t.log("connect #%d: %r" % (i, e))
            break
        held.append(s)
        t.add_closer(s)
    time.sleep(0.5)
    served = sum(1 for s in held if recv_line(s, 0.02) == "A")
    t.log("%d connections open, %d served, tcplb has %d fds" % (len(held), served, lb.fd_count()))
    t.check(served >= 10, "only %d sessions before running out of fds" % served)
    t.check(served < len(held), "all %d served with RLIMIT_NOFILE 64?" % served)
    t.check(lb.alive(), "tcplb died at EMFILE")
    c0 = cpu_seconds(lb.pid)
    time.sleep(1.0)
    c1 = cpu_seconds(lb.pid)
    t.log("CPU while out of fds: %.2fs in 1s" % (c1 - c0))
    t.check(c1 - c0 < 0.5, "tcplb spins while out of descriptors (%.2fs CPU in 1s)" % (c1 - c0))
    for s in held:
        s.close()
    ok = wait_until(lambda: t.identify(lb.addr, timeout=1) == "A", 5, 0.1)
    t.check(ok, "not serving again 5s after the clients left")
    names = [t.identify(lb.addr) for _ in range(10)]
    t.eq(names, ["A"] * 10, "after recovery")
    t.check(lb.alive(), "tcplb died")


run(test)
