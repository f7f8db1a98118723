"""on_down: shutdown_sessions still applies to the sessions a process
kept after a binary upgrade (SIGUSR2) handed its listeners over: the old
process drains them for up to shutdown_timeout, and a server marked down
meanwhile must not keep a client writing to it (a demoted database
primary) only because its session began before the upgrade.  The new
process resets its own sessions of the server; the old one, which still
checks while it drains, resets the others."""
import sys, os, shutil, socket
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from t_health_on_down import Toggle, outcome


class Pid:
    def __init__(self, pid):
        self.pid = pid

    def close(self):
        try:
            os.kill(self.pid, signal.SIGKILL)
        except OSError:
            pass


def test(t):
    prim = t.identify_backend("PRIMARY")
    back = t.identify_backend("BACKUP")
    chk = Toggle()
    t.add_closer(chk)
    port = free_port()
    addr = ("127.0.0.1", port)
    exe = t.path("tcplb-bin")
    shutil.copyfile(t.bin, exe)
    os.chmod(exe, 0o755)
    cfg = t.write("tcplb.yaml", """\
global:
  shutdown_timeout: 60s
listeners:
  front: {bind: "127.0.0.1:%d", pool: db}
pools:
  db:
    on_down: shutdown_sessions
    health_check: {interval: 200ms, timeout: 300ms, rise: 1, fall: 1}
    servers:
      - {address: "%s", name: primary, check_port: %d}
      - {address: "%s", name: backup, backup: true}
""" % (port, prim.hostport, chk.port, back.hostport))
    n = t.notify_receiver()
    lb = t.start(["-w", "2", "-c", cfg, "--log-target", "stderr"],
                 env={"NOTIFY_SOCKET": n.path}, argv0=[exe])
    t.check(n.wait_for("READY=1", timeout=5), "no READY=1 at start")
    old = []
    for i in range(3):
        s = connect(addr)
        t.eq(recv_line(s), "PRIMARY")
        old.append(s)
    start = n.count()
    lb.signal(signal.SIGUSR2)
    r = n.wait_for("MAINPID=", start=start, timeout=15)
    t.check(r, "no MAINPID= after SIGUSR2")
    new_pid = int([l for l in r[1].split("\n") if l.startswith("MAINPID=")][0].split("=")[1])
    t.add_closer(Pid(new_pid))
    t.check(n.wait_for("READY=1", start=r[0] + 1, timeout=5), "no READY=1 from the new process")
    t.check(lb.wait_stderr(r"binary upgrade done", timeout=5), "the old process did not hand over")
    new = []
    for i in range(2):
        s = connect(addr)
        t.eq(recv_line(s), "PRIMARY")
        new.append(s)
    time.sleep(0.5)
    # The primary fails its check: every session on it, in either
    # process, is reset.
    chk.down()
    t0 = time.monotonic()
    seen_new = [outcome(s) for s in new]
    seen_old = [outcome(s) for s in old]
    dt = time.monotonic() - t0
    t.log("new process's sessions:", seen_new, "old process's:", seen_old, "in %.2fs" % dt)
    t.eq(seen_new, ["reset"] * 2, "sessions of the new process on the downed primary")
    t.eq(seen_old, ["reset"] * 3, "sessions the old process still drains, on the downed primary")
    t.check(dt < 4.0, "resets took %.2fs (interval 200ms, fall 1)" % dt)
    # With its last session gone, the old process ends as usual.
    rc = lb.wait(10)
    t.eq(rc, 0, "exit status of the old process once its sessions ended")


if __name__ == "__main__":
    run(test)
