"""Binary upgrade (SIGUSR2), the mechanism behind a hitless package upgrade:
under load, with sessions held open, tcplb started from a copy of the binary
gets a new copy at the same path (another inode) and SIGUSR2.  Required: no
connection refused or failed, the held sessions keep working until they
end, the new process serves from the new file and announces itself with
MAINPID= then READY=1, the old one drains and exits 0.  Then a broken binary
and an invalid configuration each fail the upgrade and the running process
keeps serving, saying so in STATUS=."""
import sys, os, shutil
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


class Pid:
    """Kills a process the test did not start itself (the new tcplb)."""
    def __init__(self, pid):
        self.pid = pid

    def close(self):
        try:
            os.kill(self.pid, signal.SIGKILL)
        except OSError:
            pass


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is not alive
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def install(t, src, dst):
    """Put src at dst as a new file (new inode), as a package manager does."""
    tmp = dst + ".new"
    shutil.copyfile(src, tmp)
    os.chmod(tmp, 0o755)
    os.rename(tmp, dst)
    return os.stat(dst).st_ino


class Load:
    """Clients looping connect / read the backend's name / close."""
    def __init__(self, addr, n=4, limit_s=40.0):
        self.addr = addr
        self.ok = self.refused = self.failed = 0
        self.errors = []
        self.lock = threading.Lock()
        self.stop_ev = threading.Event()
        self.deadline = time.monotonic() + limit_s
        self.threads = [threading.Thread(target=self.loop, daemon=True) for _ in range(n)]
        for th in self.threads:
            th.start()

    def loop(self):
        while not self.stop_ev.is_set() and time.monotonic() < self.deadline:
            try:
                s = socket.create_connection(self.addr, timeout=3)
            except ConnectionRefusedError:
                with self.lock:
                    self.refused += 1
                continue
            except OSError as e:
                with self.lock:
                    self.failed += 1
                    self.errors.append("connect: %r" % e)
                continue
            try:
                line = recv_line(s, 3)
                ok = line == "A"
            except Exception as e:
                ok = False
                line = repr(e)
            finally:
                s.close()
            with self.lock:
                if ok:
                    self.ok += 1
                else:
                    self.failed += 1
                    self.errors.append("reply: %s" % line)
            time.sleep(0.002)

    def stop(self):
        self.stop_ev.set()
        for th in self.threads:
            th.join(5)


def test(t):
    a = t.identify_backend("A")
    port, extra = free_port(), free_port()
    exe = t.path("tcplb-bin")
    ino_old = install(t, t.bin, exe)
    cfg_text = """\
global:
  shutdown_timeout: 30s
listeners:
  front:
    bind: 127.0.0.1:%d
    pool: p
pools:
  p:
    servers: [%s]
""" % (port, a.hostport)
    # A second listener, dropped from the file before the upgrade (with no
    # reload): the new process must close it and take it out of systemd's
    # fd store -- but only once it is the main process.
    cfg = t.write("tcplb.yaml", cfg_text.replace(
        "listeners:\n", "listeners:\n  extra: {bind: 127.0.0.1:%d, pool: p}\n" % extra))
    n = t.notify_receiver()
    workers = os.environ.get("TCPLB_TEST_WORKERS", "2")
    lb = t.start(["-w", workers, "-c", cfg, "--log-target", "stderr"],
                 env={"NOTIFY_SOCKET": n.path, "WATCHDOG_USEC": "400000"},
                 # WATCHDOG_PID as systemd sets it: the new process must get
                 # its own, or sd_watchdog_enabled() says no
                 argv0=["/bin/sh", "-c", 'WATCHDOG_PID=$$ exec "$0" "$@"', exe])
    t.check(n.wait_for("READY=1", timeout=5), "no READY=1 at start")
    addr = ("127.0.0.1", port)
    inodes = listen_inodes(port)

    held = []
    for i in range(4):
        s, name = t.hold(addr)
        t.eq(name, "A", "held session %d" % i)
        held.append(s)
    load = Load(addr)
    t.check(wait_until(lambda: load.ok > 50, 10), "load does not run")

    t.eq(t.identify(("127.0.0.1", extra)), "A", "second listener before the upgrade")

    # ---- the upgrade --------------------------------------------------
    t.write("tcplb.yaml", cfg_text)
    ino_new = install(t, t.bin, exe)
    t.check(ino_new != ino_old, "the new copy has a new inode")
    start = n.count()
    t0 = time.monotonic()
    lb.signal(signal.SIGUSR2)
    r = n.wait_for("MAINPID=", start=start, timeout=15)
    t.check(r, "no MAINPID= after SIGUSR2")
    new_pid = int([l for l in r[1].split("\n") if l.startswith("MAINPID=")][0].split("=")[1])
    t.add_closer(Pid(new_pid))
    t.log("new main process %d after %.3fs" % (new_pid, time.monotonic() - t0))
    t.check(new_pid != lb.pid, "MAINPID= names another process")
    ready = n.wait_for("READY=1", start=r[0] + 1, timeout=5)
    t.check(ready, "no READY=1 from the new process after MAINPID=")
    # (FDNAMEs are compact hashes now: any removal is the dropped one's)
    rm = [i for i, m in enumerate(n.messages()) if "FDSTOREREMOVE=1" in m]
    t.check(rm, "the dropped listener's sockets were not removed from the fd store")
    t.check(all(i > r[0] for i in rm), "FDSTOREREMOVE= before the new process was the main one")
    t.eq(os.stat("/proc/%d/exe" % new_pid).st_ino, ino_new,
         "the new process runs the new file")
    t.check(alive(lb.pid), "the old process must drain its sessions, not exit")
    # the same sockets: nothing was closed and bound again
    t.eq(listen_inodes(port), inodes, "listening sockets across the upgrade")
    time.sleep(1.0)     # load on the new process
    for i, s in enumerate(held):
        t.check(t.echo_ok(s, b"after upgrade %d" % i), "held session %d after the upgrade" % i)
    t.check(alive(lb.pid), "the old process exited with sessions open")
    for s in held:
        s.close()
    rc = lb.wait(10)
    t.eq(rc, 0, "exit status of the old process once its sessions ended")
    try:
        socket.create_connection(("127.0.0.1", extra), timeout=2).close()
        t.fail("the dropped listener still accepts after the upgrade")
    except ConnectionRefusedError:
        pass
    t.check(alive(new_pid), "the new process serves on")
    # Only the new process is left: the watchdog keep-alive is its now.
    start = n.count()
    time.sleep(1.0)
    t.check(sum(1 for m in n.messages(start) if "WATCHDOG=1" in m.split("\n")) >= 2,
            "no WATCHDOG=1 from the new process")
    time.sleep(0.5)
    load.stop()
    t.log("upgrade under load: %d ok, %d refused, %d failed %s" %
          (load.ok, load.refused, load.failed, load.errors[:5]))
    t.eq(load.refused, 0, "connections refused during the upgrade")
    t.eq(load.failed, 0, "connections failed during the upgrade")
    t.check(re.search(r"state of 1 server taken over", lb.stderr()), "state not handed over")

    # ---- a broken binary: the running one keeps serving ---------------
    broken = t.write("broken", "#!/bin/sh\necho broken binary >&2\nexit 3\n")
    install(t, broken, exe)
    load = Load(addr)
    start = n.count()
    os.kill(new_pid, signal.SIGUSR2)
    r = n.wait_for("STATUS=", start=start, timeout=10)
    f = None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        f = [m for m in n.messages(start) if "STATUS=upgrade failed" in m]
        if f:
            break
        time.sleep(0.05)
    t.check(f, "no 'upgrade failed' STATUS= for a broken binary")
    t.check(not any(m.startswith("MAINPID=") or "\nMAINPID=" in m for m in n.messages(start)),
            "MAINPID= after a failed upgrade")
    t.check(alive(new_pid), "a failed upgrade stopped the running process")
    t.eq(t.identify(addr), "A", "served after a failed upgrade")

    # ---- an invalid configuration: same ------------------------------
    install(t, t.bin, exe)
    t.write("tcplb.yaml", cfg_text + "bogus: 1\n")
    start = n.count()
    os.kill(new_pid, signal.SIGUSR2)
    f = None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        f = [m for m in n.messages(start) if "STATUS=upgrade failed" in m]
        if f:
            break
        time.sleep(0.05)
    t.check(f, "no 'upgrade failed' STATUS= for an invalid configuration")
    t.check(alive(new_pid), "an invalid file stopped the running process")
    time.sleep(0.3)
    load.stop()
    t.eq(t.identify(addr), "A", "served after a rejected configuration")
    t.log("failed upgrades under load: %d ok, %d refused, %d failed %s" %
          (load.ok, load.refused, load.failed, load.errors[:5]))
    t.eq(load.refused + load.failed, 0, "connections lost by a failed upgrade")

    os.kill(new_pid, signal.SIGTERM)
    t.check(wait_until(lambda: not alive(new_pid), 10), "new process did not stop on SIGTERM")
    # Both processes wrote to the same stderr (the new one inherited it):
    # under the sanitizers, a report from either would be here.
    err = lb.stderr()
    t.check("Sanitizer" not in err and "runtime error" not in err,
            "sanitizer report in tcplb's stderr")
    t.check(re.search(r"tcplb\[%d\]: notice: stopped" % new_pid, err),
            "the new process did not stop cleanly")


run(test, timeout=90)
