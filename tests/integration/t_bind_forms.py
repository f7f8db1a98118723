"""Address forms: a bind list, '*:PORT' (all addresses), host names for
servers (resolved at load) in the file and in quick mode."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def test(t):
    a = t.identify_backend("A")
    # quick mode with a host name
    lb = t.start_quick(["localhost:%d" % a.port])
    t.eq(t.identify(lb.addr), "A", "quick mode backend localhost:PORT")
    lb.stop()

    p1, p2 = free_port(), free_port_all()
    t.start_config("""\
listeners:
  multi:
    bind: ["127.0.0.1:%d", "127.0.0.2:%d"]
    pool: p
  any:
    bind: "*:%d"
    pool: p
pools:
  p:
    servers:
      - address: localhost:%d
        name: byname
""" % (p1, p1, p2, a.port))
    t.eq(t.identify(("127.0.0.1", p1)), "A", "bind list, first address")
    t.eq(t.identify(("127.0.0.2", p1)), "A", "bind list, second address")
    try:
        s = connect(("127.0.0.3", p1), timeout=1)
        s.close()
        t.fail("127.0.0.3:%d accepts, but only 127.0.0.1 and 127.0.0.2 were bound" % p1)
    except ConnectionRefusedError:
        pass
    t.eq(t.identify(("127.0.0.1", p2)), "A", "*:PORT via 127.0.0.1")
    t.eq(t.identify(("127.0.0.9", p2)), "A", "*:PORT via 127.0.0.9")
    if have_ipv6():
        t.eq(t.identify(("::1", p2)), "A", "*:PORT via ::1")


run(test)
