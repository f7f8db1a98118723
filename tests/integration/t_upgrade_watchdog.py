"""Binary upgrade and the watchdog: systemd's deadline runs from the old
main process's last WATCHDOG=1, which may be up to half the interval before
the handover.  The new process must keep-alive at once when it becomes the
main process (after MAINPID=), not half an interval after its own start --
otherwise the two halves add up to a whole WatchdogSec= without a ping and
systemd kills the new tcplb."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *

WATCHDOG_S = 4.0    # keep-alive every 2 s


def test(t):
    a = t.identify_backend("A")
    port = free_port()
    cfg = t.write("tcplb.yaml", """\
global:
  shutdown_timeout: 5s
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    servers: ["%s"]
""" % (port, a.hostport))
    n = t.notify_receiver()
    lb = t.start(["-w", os.environ.get("TCPLB_TEST_WORKERS", "2"), "-c", cfg,
                  "--log-target", "stderr"],
                 env={"NOTIFY_SOCKET": n.path,
                      "WATCHDOG_USEC": str(int(WATCHDOG_S * 1e6))},
                 argv0=["/bin/sh", "-c", 'WATCHDOG_PID=$$ exec "$0" "$@"', t.bin])
    t.check(n.wait_for("READY=1", timeout=5), "no READY=1 at start")
    # Right after a keep-alive of the old process: the new one starts its
    # own period now, so without a ping at the handover the next comes a
    # whole half interval later.
    w = n.wait_for("WATCHDOG=1", start=n.count(), timeout=WATCHDOG_S)
    t.check(w, "no WATCHDOG=1 from the old process")
    lb.signal(signal.SIGUSR2)
    r = n.wait_for("MAINPID=", start=w[0] + 1, timeout=15)
    t.check(r, "no MAINPID= after SIGUSR2")
    new_pid = int([l for l in r[1].split("\n") if l.startswith("MAINPID=")][0][8:])
    t.add_closer(ProcessKiller(new_pid))
    wd = n.wait_for("WATCHDOG=1", start=r[0] + 1, timeout=WATCHDOG_S)
    t.check(wd, "no WATCHDOG=1 from the new main process")
    ents = n.entries()
    t_main, t_ping = ents[r[0]][0], ents[wd[0]][0]
    t.log("first keep-alive %.3fs after MAINPID=" % (t_ping - t_main))
    t.check(t_ping - t_main < WATCHDOG_S / 4,
            "the new main process pinged the watchdog only %.3fs after MAINPID= "
            "(systemd's deadline runs from the old one's last ping)" % (t_ping - t_main))
    t.eq(t.identify(("127.0.0.1", port)), "A", "served after the upgrade")
    t.eq(lb.wait(10), 0, "exit status of the old process")
    os.kill(new_pid, signal.SIGTERM)
    t.check(wait_until(lambda: not os.path.exists("/proc/%d/exe" % new_pid) or
                       open("/proc/%d/stat" % new_pid).read().rsplit(")", 1)[1].split()[0] == "Z", 10),
            "the new process did not stop on SIGTERM")


class ProcessKiller:
    def __init__(self, pid):
        self.pid = pid

    def close(self):
        try:
            os.kill(self.pid, signal.SIGKILL)
        except OSError:
            pass


run(test, timeout=60)
