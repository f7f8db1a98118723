"""A server removed by one reload and added back by the next, while a
connection of the first generation still uses it, counts that connection:
max_connections holds across remove + re-add (as it does across a rename,
issue 16 item 3), and once the old connection ends the server takes
clients again."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *

CFG = """\
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    servers:
%s
"""


def srv(b):
    return '      - {address: "%s", max_connections: 1}\n' % b.hostport


def test(t):
    a = t.identify_backend("A")
    b = t.identify_backend("B")
    port = free_port()
    addr = ("127.0.0.1", port)
    lb = t.start_config(CFG % (port, srv(a)))
    held, n = t.hold(addr)
    t.eq(n, "A", "slot holder")
    t.reload(lb, CFG % (port, srv(b)))	# A removed: its holder drains
    t.reload(lb, CFG % (port, srv(a)))	# A back, its holder still there
    s = connect(addr, timeout=3)
    t.add_closer(s)
    t.eq(recv_line(s, 3), None, "client while A's one slot is held")
    t.eq(a.stats()["max_active"], 1, "A's max_connections")
    held.close()
    # tcplb gives the slot back when the whole session ends, after A saw
    # the close: wait for its record, not for A.
    t.check(lb.wait_stderr(r'end="client closed"', 3), "holder's session not closed")
    s2, n2 = t.hold(addr)
    t.eq(n2, "A", "client after the old holder left")


run(test)
