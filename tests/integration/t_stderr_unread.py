"""A standard error that nobody reads (a pipe left full, as a careless
supervisor or test harness does) must not stop tcplb: the access log lines
that do not fit are dropped, and every connection is still served."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def test(t):
    a = t.identify_backend("A")
    p = subprocess.Popen([t.bin, "-w", "1", a.hostport], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = p.stdout.readline().decode()
        t.check(line.startswith("listening on "), "first line: %r" % line)
        addr = parse_hostport(line.split()[-1])
        # A pipe holds 64 KiB: each access-log line is ~200 bytes, so this
        # fills it many times over.
        served = 0
        t0 = time.monotonic()
        for i in range(1500):
            if t.identify(addr, timeout=2) != "A":
                t.fail("connection %d not served with stderr unread" % i)
            served += 1
        t.log("%d connections served in %.1fs with stderr never read"
              % (served, time.monotonic() - t0))
        p.send_signal(signal.SIGTERM)
        t.eq(p.wait(10), 0, "exit status after SIGTERM")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(5)


run(test)
