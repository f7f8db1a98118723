"""A client whose every regular server refuses goes on to a backup server
within its retries, instead of being turned away while passive health has
not yet marked the regular servers down."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def test(t):
    k = t.identify_backend("K")
    port = free_port()
    addr = ("127.0.0.1", port)
    t.start_config("""\
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    retries: 2
    max_fails: 10
    servers:
      - 127.0.0.1:%d
      - 127.0.0.1:%d
      - {address: "%s", backup: true}
""" % (port, refused_port(), refused_port(), k.hostport))
    seq = [t.identify(addr, timeout=2) for _ in range(5)]
    t.log("served by:", seq)
    t.eq(seq, ["K"] * 5, "clients served by the backup after the primaries refused")


run(test)
