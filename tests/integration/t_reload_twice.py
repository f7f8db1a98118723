"""SIGHUPs arriving during a reload are not lost: after a burst of SIGHUPs
the file as last written is in force."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *

CFG = """\
listeners:
  front:
    bind: 127.0.0.1:%d
    pool: p
pools:
  p:
    servers:
      - %s
      - %s
"""


def test(t):
    bs = {n: t.identify_backend(n) for n in "ABCDEF"}
    port = free_port()
    addr = ("127.0.0.1", port)
    sets = [("A", "B"), ("C", "D"), ("E", "F")]

    def text(k):
        x, y = sets[k]
        # a host name to resolve makes each reload take a little longer
        return CFG % (port, bs[x].hostport, "localhost:%d" % bs[y].port)

    lb = t.start_config(text(0))
    for round_ in range(5):
        last = (round_ % 2) + 1
        for k in (1, 2, 1, 2)[: 2 + round_ % 3] + (last,):
            t.write("tcplb.yaml", text(k))
            lb.signal(signal.SIGHUP)
            time.sleep(0.002)
        want = set(sets[last])
        got = wait_until(lambda: set(t.identify(addr) for _ in range(4)) == want, 3, 0.05)
        names = set(t.identify(addr) for _ in range(4))
        t.log("round %d: want %s, got %s" % (round_, sorted(want), sorted(names)))
        t.check(got and names == want,
                "after a burst of SIGHUPs the last file is not in force: %s" % names)
        t.check(lb.alive(), "tcplb died")
        # back to set 0 with a normal reload
        t.reload(lb, text(0))
        t.eq(set(t.identify(addr) for _ in range(4)), {"A", "B"}, "after a normal reload")


run(test)
