"""balance: maglev -- 600 client addresses spread evenly over five servers;
a second instance listing the servers in reverse picks the same server for
every client; a reload without one server moves its clients and only a
small measured fraction of the others."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *

NCLIENTS = 600


def clients():
    return ["127.77.%d.%d" % (k // 250, 1 + k % 250) for k in range(NCLIENTS)]


def config(port, servers):
    return """\
global:
  workers: 2
listeners:
  front:
    bind: 127.0.0.1:%d
    pool: p
pools:
  p:
    balance: maglev
    servers:
%s""" % (port, "".join("      - { address: %s, name: %s }\n" % (b.hostport, b.name)
                      for b in servers))


def picks(t, port):
    out = []
    for ip in clients():
        out.append(t.identify(("127.0.0.1", port), source=ip))
    t.check(None not in out, "%d of %d clients not served" % (out.count(None), len(out)))
    return out


def test(t):
    bs = [t.identify_backend(n) for n in "ABCDE"]
    p1, p2 = free_port(), free_port()
    lb1 = t.start_config(config(p1, bs), cfg_name="a.yaml")
    lb2 = t.start_config(config(p2, list(reversed(bs))), cfg_name="b.yaml")
    one = picks(t, p1)
    two = picks(t, p2)
    counts = {n: one.count(n) for n in "ABCDE"}
    t.log("600 clients over 5 servers: %s" % counts)
    for n, c in counts.items():
        # mean 120; sampling noise alone is about +-11 (one sigma)
        t.check(80 <= c <= 160, "server %s got %d of 600 clients" % (n, c))
    diff = sum(1 for a, b in zip(one, two) if a != b)
    t.eq(diff, 0, "clients sent elsewhere by an instance listing the servers in reverse")

    t.reload(lb1, config(p1, [b for b in bs if b.name != "C"]))
    after = picks(t, p1)
    moved_c = sum(1 for a, b in zip(one, after) if a == "C")
    moved_other = sum(1 for a, b in zip(one, after) if a != "C" and a != b)
    t.log("without C: its %d clients moved, and %d (%.2f%%) of the others"
          % (moved_c, moved_other, 100.0 * moved_other / NCLIENTS))
    t.check("C" not in after, "a client still sent to the removed server")
    t.check(moved_other <= NCLIENTS * 0.02,
            "%d other clients moved (more than 2%%)" % moved_other)
    lb1.stop()
    lb2.stop()


run(test)
