"""A connect() that completes at once (returns 0 instead of EINPROGRESS)
starts the relay on the server's socket: sessions echo both ways, a
half-close is forwarded, and health checks pass on the same path.

Loopback connects always report EINPROGRESS, so the test hook
TCPLB_TEST_CONNECT_WAIT=1 (src/net.c) makes net_connect() wait for the
connection and report it as immediate."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *

CFG = """\
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    health_check: {interval: 200ms, timeout: 1s, rise: 1, fall: 1}
    servers:
      - %s
"""


def test(t):
    b = t.backend("echo")
    port = free_port()
    addr = ("127.0.0.1", port)
    lb = t.start_config(CFG % (port, b.hostport),
                        env={"TCPLB_TEST_CONNECT_WAIT": "1"}, extra=["-v"])
    for i in range(20):
        s = connect(addr)
        payload = os.urandom(1000 + i * 3000)
        s.sendall(payload)
        t.eq(recv_exact(s, len(payload)), payload, "session %d: echo" % i)
        s.shutdown(socket.SHUT_WR)
        data, how = recv_until_eof(s, timeout=3)
        t.eq((data, how), (b"", "eof"), "session %d: half-close forwarded" % i)
        s.close()
    t.check(lb.alive(), "tcplb died")
    t.check(wait_until(lambda: b.stats()["active"] == 0, 3),
            "backend still holds %d connections" % b.stats()["active"])
    # the health checker took the immediate path too and never failed
    t.check(re.search(r"server \S+ is DOWN", lb.stderr()) is None,
            "a health check failed: " + lb.stderr()[-2000:])


run(test)
