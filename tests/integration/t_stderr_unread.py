"""A standard error that nobody reads (a pipe or a socket left full, as a
careless supervisor or test harness does) must not stop tcplb: the access
log lines that do not fit are dropped, and every connection is still served.
Nor may tcplb make the descriptors it shares (stdout after 2>&1, the
caller's pipe) non-blocking for everyone else."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *

O_NONBLOCK = 0o4000


def fd_flags(pid, fd):
    with open("/proc/%d/fdinfo/%d" % (pid, fd)) as f:
        for line in f:
            if line.startswith("flags:"):
                return int(line.split()[1], 8)
    return 0


def run_case(t, a, what, stderr, n=1500):
    p = subprocess.Popen([t.bin, "-w", "1", a.hostport], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=stderr)
    try:
        # With 2>&1 log lines come first: find the one stdout line.
        for _ in range(20):
            line = p.stdout.readline().decode()
            if line.startswith("listening on ") or not line:
                break
        t.check(line.startswith("listening on "), "%s: no 'listening on' line: %r" % (what, line))
        addr = parse_hostport(line.split()[-1])
        t0 = time.monotonic()
        for i in range(n):
            if t.identify(addr, timeout=2) != "A":
                t.fail("%s: connection %d not served with stderr unread" % (what, i))
        t.log("%s: %d connections served in %.1fs with stderr never read"
              % (what, n, time.monotonic() - t0))
        t.check(not fd_flags(p.pid, 1) & O_NONBLOCK,
                "%s: tcplb made its stdout non-blocking" % what)
        p.send_signal(signal.SIGTERM)
        t.eq(p.wait(10), 0, "%s: exit status after SIGTERM" % what)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(5)


def test(t):
    a = t.identify_backend("A")
    # A pipe holds 64 KiB: each access-log line is ~200 bytes, so 1,500
    # connections fill it many times over.
    run_case(t, a, "stderr pipe", subprocess.PIPE)
    # stdout and stderr on one pipe (2>&1): the first line must arrive and
    # the shared pipe must stay blocking.
    run_case(t, a, "2>&1 pipe", subprocess.STDOUT)
    # A stream socket, as systemd's journal stream is.
    s1, s2 = socket.socketpair()
    try:
        run_case(t, a, "stderr socket", s2.fileno())
    finally:
        s1.close()
        s2.close()


run(test)
