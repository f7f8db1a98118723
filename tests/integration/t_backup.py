"""backup: the backup server takes connections only while no primary is up."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def test(t):
    a = t.identify_backend("A")
    b = t.identify_backend("B")
    k = t.identify_backend("K")
    port = free_port()
    addr = ("127.0.0.1", port)
    cfg = """\
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    health_check:
      interval: 200ms
      timeout: 200ms
      rise: 2
      fall: 2
    servers:
      - {address: "%s", name: A}
      - {address: "%s", name: B}
      - {address: "%s", name: K, backup: true}
""" % (port, a.hostport, b.hostport, k.hostport)
    t.start_config(cfg)
    time.sleep(0.6)
    seq = [t.identify(addr) for _ in range(20)]
    t.log("all up:", "".join(str(x) for x in seq))
    t.eq(sorted(set(seq)), ["A", "B"], "servers used while the primaries are up")

    # one primary down: still no backup
    a_port = a.port
    a.close()
    time.sleep(1.0)
    seq = [t.identify(addr) for _ in range(10)]
    t.log("A down:", "".join(str(x) for x in seq))
    t.eq(set(seq), {"B"}, "servers used while one primary is up")

    # both primaries down: the backup serves
    b.close()
    t0 = time.monotonic()
    got = wait_until(lambda: t.identify(addr, timeout=1) == "K", 3, 0.05)
    t.check(got, "backup did not take over within 3s of the last primary going down")
    t.log("backup took over after %.2fs" % (time.monotonic() - t0))
    seq = [t.identify(addr) for _ in range(10)]
    t.eq(set(seq), {"K"}, "servers used while every primary is down")

    # a primary comes back: the backup stops taking new connections
    a2 = t.identify_backend("A", port=a_port)
    t0 = time.monotonic()
    got = wait_until(lambda: t.identify(addr, timeout=1) == "A", 3, 0.05)
    t.check(got, "primary A not used again within 3s of coming back")
    t.log("A back after %.2fs" % (time.monotonic() - t0))
    time.sleep(0.2)
    seq = [t.identify(addr) for _ in range(10)]
    t.eq(set(seq), {"A"}, "servers used once a primary is back")


run(test)
