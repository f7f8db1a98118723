"""Helpers for the t_upgrade_* tests: start tcplb from a copy of the
binary (as a package would install it), run a binary upgrade (SIGUSR2)
and follow the new main process; and a stand-in for systemd's fd store,
which keeps the sockets tcplb stores (FDSTORE=1 with SCM_RIGHTS) and
passes them to the next start as systemd does after a restart."""
import array
import resource
import shutil
from lib import *

__all__ = ["UpgradeRun", "FdStore", "pid_alive", "Killer", "start_with_fds"]


def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


class Killer:
    """Closer: SIGKILL a process the test did not start itself."""
    def __init__(self, pid):
        self.pid = pid

    def close(self):
        try:
            os.kill(self.pid, signal.SIGKILL)
        except OSError:
            pass


class UpgradeRun:
    """tcplb from a copy of the binary, with sd_notify; upgrade() sends
    SIGUSR2 and returns the new main process's PID."""
    def __init__(self, t, cfg_path, workers=None, env=None, nofile=None, notify=None):
        self.t = t
        self.exe = t.path("tcplb-bin")
        if not os.path.exists(self.exe):
            shutil.copyfile(t.bin, self.exe)
            os.chmod(self.exe, 0o755)
        self.n = notify or t.notify_receiver()
        e = {"NOTIFY_SOCKET": self.n.path}
        e.update(env or {})
        w = workers or os.environ.get("TCPLB_TEST_WORKERS", "2")
        start = self.n.count()
        self.lb = t.start(["-w", str(w), "-c", cfg_path, "--log-target", "stderr"],
                          env=e, argv0=[self.exe], nofile=nofile)
        self.main = self.lb.pid
        t.check(self.n.wait_for("READY=1", start=start, timeout=20),
                "no READY=1 at start: %s" % self.lb.stderr()[-2000:])

    def upgrade(self, timeout=20, expect=True):
        start = self.n.count()
        os.kill(self.main, signal.SIGUSR2)
        r = self.n.wait_for("MAINPID=", start=start, timeout=timeout)
        if not expect:
            return r
        self.t.check(r, "no MAINPID= after SIGUSR2: %s" % self.lb.stderr()[-3000:])
        pid = int([l for l in r[1].split("\n") if l.startswith("MAINPID=")][0][8:])
        self.t.add_closer(Killer(pid))
        self.t.check(self.n.wait_for("READY=1", start=r[0] + 1, timeout=10),
                     "no READY=1 from the new process")
        self.old, self.main = self.main, pid
        return pid

    def stop_main(self, timeout=15):
        os.kill(self.main, signal.SIGTERM)
        self.t.check(wait_until(lambda: not pid_alive(self.main), timeout),
                     "the main process %d did not stop" % self.main)


class FdStore:
    """An sd_notify socket that keeps the fds sent with FDSTORE=1 under
    their FDNAME and honours FDSTOREREMOVE=1, as systemd's fd store does;
    beyond max fds (FileDescriptorStoreMax=) it refuses more, as systemd
    does ("Hit fd store limit")."""
    def __init__(self, t, max=None):
        self.max = max
        self.refused = 0
        t._nstore = getattr(t, "_nstore", 0) + 1
        self.path = t.path("notify-store%d.sock" % t._nstore)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.fds = []           # (name, fd)
        self.msgs = []
        self.lock = threading.Lock()
        self.stop = False
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()
        t.add_closer(self)

    def loop(self):
        while not self.stop:
            try:
                msg, anc, _, _ = self.sock.recvmsg(65536, socket.CMSG_SPACE(4 * 253))
            except socket.timeout:
                continue
            except OSError:
                return
            fds = []
            for level, typ, data in anc:
                if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                    a = array.array("i")
                    a.frombytes(data[:len(data) - len(data) % 4])
                    fds.extend(a)
            text = msg.decode("utf-8", "replace")
            lines = text.split("\n")
            name = ([l[7:] for l in lines if l.startswith("FDNAME=")] or ["stored"])[0]
            with self.lock:
                self.msgs.append(text)
                if "FDSTORE=1" in lines:
                    known = set(os.fstat(fd).st_ino for _, fd in self.fds)
                    for fd in fds:
                        if os.fstat(fd).st_ino in known:
                            os.close(fd)    # systemd ignores duplicates
                        elif self.max is not None and len(self.fds) >= self.max:
                            os.close(fd)
                            self.refused += 1
                        else:
                            self.fds.append((name, fd))
                    continue
                if "FDSTOREREMOVE=1" in lines:
                    for n, fd in [x for x in self.fds if x[0] == name]:
                        os.close(fd)
                    self.fds = [x for x in self.fds if x[0] != name]
            for fd in fds:
                os.close(fd)

    def count(self):
        with self.lock:
            return len(self.fds)

    def ready(self):
        """READY=1 seen (the signal handlers are in place then)."""
        with self.lock:
            return any("READY=1" in m.split("\n") for m in self.msgs)

    def snapshot(self):
        with self.lock:
            return list(self.fds)

    def close(self):
        self.stop = True
        self.thread.join(2)
        self.sock.close()
        for _, fd in self.fds:
            os.close(fd)


def start_with_fds(t, args, fds, names, env=None, nofile=None, name="restarted"):
    """Start tcplb as systemd does after a restart: the stored sockets at
    fd 3..., LISTEN_FDS, LISTEN_FDNAMES, LISTEN_PID = its own PID."""
    e = dict(os.environ)
    for k in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "NOTIFY_SOCKET"):
        e.pop(k, None)
    e.update(env or {})
    e["LISTEN_FDS"] = str(len(fds))
    e["LISTEN_FDNAMES"] = ":".join(names)
    out = open(t.path(name + ".stderr"), "wb")

    def pre():
        try:
            _pre()
        except BaseException as ex:
            os.write(2, ("preexec: %r\n" % ex).encode())
            raise

    def _pre():
        if nofile:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
        # first above everything, then down to 3.. (no clash)
        hi = max(max(fds), 3 + len(fds)) + 16
        for i, fd in enumerate(fds):
            os.dup2(fd, hi + i)
        for i in range(len(fds)):
            os.dup2(hi + i, 3 + i, inheritable=True)
        os.closerange(hi, hi + len(fds))

    # execve() gets the environment built here, so LISTEN_PID goes through
    # a shell that knows its own PID before it execs tcplb.
    p = subprocess.Popen(["/bin/sh", "-c", 'LISTEN_PID=$$ exec "$0" "$@"', t.bin] + args,
                         stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=e,
                         preexec_fn=pre, close_fds=False, cwd=t.dir)
    out.close()
    t.add_closer(Killer(p.pid))
    p.stderr_path = t.path(name + ".stderr")
    return p
