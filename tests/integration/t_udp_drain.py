"""SIGTERM with UDP flows: a query in flight (a pool with `responses`)
still gets its answer before tcplb exits, and tcplb exits as soon as it
has; flows that expect no answer (no `responses`) do not hold the exit
back; nothing new is read meanwhile."""
import sys, os, re
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from udplib import *


def test(t):
    slow = t.add_closer(UdpBackend("S", mode="slow", delay=1.0))
    quiet = t.add_closer(UdpBackend("Q", mode="silent"))
    p1, p2 = free_udp_port(), free_udp_port()
    cfg = """\
global:
  shutdown_timeout: 10s
listeners:
  dns:
    bind: 127.0.0.1:%d
    protocol: udp
    pool: dns
  stream:
    bind: 127.0.0.1:%d
    protocol: udp
    pool: quiet
pools:
  dns:
    responses: 1
    servers: [%s]
  quiet:
    servers: [%s]
""" % (p1, p2, slow.hostport, quiet.hostport)
    p = t.start_config(cfg)
    q = UdpClient(("127.0.0.1", p2))
    q.send(b"open a flow that never gets an answer")
    t.check(wait_until(lambda: quiet.stats()["received"] == 1, 2), "quiet flow")
    c = UdpClient(("127.0.0.1", p1), timeout=3)
    c.send(b"query")
    t.check(wait_until(lambda: slow.stats()["received"] == 1, 2), "query at the server")
    t0 = time.monotonic()
    p.signal(signal.SIGTERM)
    d, _ = c.recv(3)
    t.eq(d, b"S|query", "the answer to a query in flight at SIGTERM")
    rc = p.wait(5)
    dt = time.monotonic() - t0
    t.log("exit %s %.2fs after SIGTERM" % (rc, dt))
    t.eq(rc, 0, "exit status")
    t.check(0.8 <= dt <= 4, "tcplb exited %.2fs after SIGTERM (the answer came after 1 s)" % dt)
    err = p.stderr()
    t.check(re.search(r'listener=dns .*end="responses"', err), "the query's flow ended by its answer")
    t.check(re.search(r'listener=stream .*end="shutdown"', err), "the other flow ended at shutdown")
    c.close()
    q.close()


if __name__ == "__main__":
    run(test, timeout=30)
