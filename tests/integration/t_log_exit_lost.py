"""Records still queued when tcplb gives up at exit are counted and said:
with a journal that never reads, exit waits about 1 s for it, then writes
one line on stderr naming how many records were lost, and exits."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def test(t):
    a = t.identify_backend("A")
    path = t.path("journal.sock")
    j = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    j.bind(path)            # never read: a stalled journald
    t.add_closer(j)
    port = free_port()
    cfg = """\
global: {workers: 1, access_log: true}
listeners:
  front: {bind: "127.0.0.1:%d", pool: web}
pools:
  web:
    servers: [%s]
""" % (port, a.hostport)
    lb = t.start_config(cfg, extra=["--log-target", "journal"], log_stderr=False,
                        env={"TCPLB_JOURNAL_SOCKET": path})
    addr = ("127.0.0.1", port)
    # More than the socket holds, fewer than the queue drops: records wait.
    for i in range(1500):
        if t.identify(addr, timeout=2) != "A":
            t.fail("connection %d not served" % i)
    t0 = time.monotonic()
    lb.signal(signal.SIGTERM)
    rc = lb.wait(10)
    took = time.monotonic() - t0
    t.log("exit after %.2f s, rc %r" % (took, rc))
    t.eq(rc, 0, "exit code")
    t.check(took < 5, "exit took %.1f s with the journal stalled" % took)
    m = re.search(r"(\d+) log records? still queued at exit after \d+ ms: lost", lb.stderr())
    t.check(m, "stderr does not say how many records were lost: %r" % lb.stderr()[-500:])
    t.log(m.group(0))
    t.check(int(m.group(1)) > 0, "no record counted as lost")


run(test)
