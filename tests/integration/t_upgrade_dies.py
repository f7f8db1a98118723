"""A new process that dies right after it said "ready" (a crash at its
first event, the OOM killer): the old process must not name a dead process
as the unit's main process (MAINPID=) and then drain and exit -- the unit
would end with exit status 0, Restart=on-failure would not restart it, and
every connection would be refused.  The old process learns of the death
when it confirms the handover ("ok" to a closed socket) and keeps serving.
Made deterministic: the new process is held up by a slow name server, the
old one is stopped (SIGSTOP) until the new one has said "ready" and waits
for the confirmation, then the new one is killed and the old one resumes.
The admin socket stays the old process's, and the killed one's own socket
file (PATH.PID) is removed."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from slowdns import SlowDns, ProcessKiller

DELAY_S = 1.5       # below the resolver's 2 s query timeout

POLL_SYSCALLS = {"x86_64": ("7", "271"), "aarch64": ("73",)}


def in_poll(pid):
    """The main thread of pid waits in poll() for the confirmation; None
    when that cannot be seen (another architecture, no ptrace access)."""
    import platform
    nrs = POLL_SYSCALLS.get(platform.machine())
    if nrs is None:
        return None
    try:
        with open("/proc/%d/syscall" % pid) as f:
            return f.read().split()[0] in nrs
    except PermissionError:
        return None
    except (OSError, IndexError):
        return False


def test(t):
    a = t.identify_backend("A")
    dns = SlowDns()
    t.add_closer(dns)
    port = free_port()
    addr = ("127.0.0.1", port)
    cfg = t.write("tcplb.yaml", """\
global:
  shutdown_timeout: 5s
  resolvers: ["%s"]
  admin_socket: %s
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    servers: ["app.test:%d"]
""" % (dns.server, t.path("admin.sock"), port, a.port))
    n = t.notify_receiver()
    lb = t.start(["-w", os.environ.get("TCPLB_TEST_WORKERS", "2"), "-c", cfg,
                  "--log-target", "stderr"], env={"NOTIFY_SOCKET": n.path})
    t.check(n.wait_for("READY=1", timeout=10), "no READY=1 at start")
    t.eq(t.identify(addr), "A", "before the upgrade")

    dns.delay = DELAY_S
    seen = len(dns.queries)
    start = n.count()
    lb.signal(signal.SIGUSR2)
    t.check(wait_until(lambda: len(dns.queries) > seen, 10),
            "the new process never resolved app.test")
    # The new one is loading; the old one must not read "ready" yet.
    lb.signal(signal.SIGSTOP)
    try:
        pids = []
        deadline = time.monotonic() + 10
        while not pids and time.monotonic() < deadline:
            pids = [int(x) for x in re.findall(
                r"tcplb\[(\d+)\]: notice: listener front: listening on", lb.stderr())
                if int(x) != lb.pid]
            time.sleep(0.02)
        t.check(pids, "the new process did not start serving")
        new_pid = pids[0]
        t.add_closer(ProcessKiller(new_pid))
        if in_poll(new_pid) is None:
            # "ready" follows the listening line at once
            t.log("cannot see the new process's system call: waiting 1s")
            time.sleep(1.0)
        else:
            t.check(wait_until(lambda: in_poll(new_pid), 10),
                    "the new process does not wait for the handover")
        os.kill(new_pid, signal.SIGKILL)
        time.sleep(0.2)
    finally:
        lb.signal(signal.SIGCONT)
    f = None
    deadline = time.monotonic() + 10
    while not f and time.monotonic() < deadline:
        f = [x for x in n.messages(start) if "STATUS=upgrade failed" in x]
        time.sleep(0.05)
    t.check(f, "no 'upgrade failed' STATUS= after the new process died")
    dead = [x for x in n.messages(start) if "MAINPID=%d" % new_pid in x.split("\n")]
    t.check(not dead or any("MAINPID=%d" % lb.pid in x.split("\n") for x in n.messages(start)),
            "MAINPID= named the dead process %d and was never taken back" % new_pid)
    time.sleep(0.5)
    t.check(lb.alive(), "the old process exited after handing over to a dead one")
    t.eq(t.identify(addr), "A", "served after the new process died")
    # its admin socket was never put at the path, and its own file is gone
    t.eq(admin_json(t.path("admin.sock"), "show info")["pid"], lb.pid,
         "the admin socket is still the running process's")
    t.eq(sorted(f for f in os.listdir(t.dir) if f.startswith("admin.sock")),
         ["admin.sock", "admin.sock.%d" % lb.pid], "the killed process's socket file is left")
    lb.stop()


run(test, timeout=60)
