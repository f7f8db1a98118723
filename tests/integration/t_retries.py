"""retries: 0 means one try only (a refusing server closes the client);
retries: 1 over [dead, dead, live] tries two servers at most."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def test(t):
    live = t.identify_backend("LIVE")
    d1, d2 = refused_port(), refused_port()
    port = free_port()
    addr = ("127.0.0.1", port)
    t.start_config("""\
global:
  workers: 1
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    retries: 0
    servers: ["127.0.0.1:%d", "%s"]
""" % (port, d1, live.hostport))
    seq = [t.identify(addr) for _ in range(2)]
    t.log("retries 0, [dead, live]:", seq)
    t.eq(sorted(map(str, seq)), ["LIVE", "None"], "two clients over [dead, live] with retries 0")
    t.eq(live.stats()["accepted"], 1, "connections at the live server")
    # with retries 2 nobody fails
    port = free_port()
    addr = ("127.0.0.1", port)
    t.notify = None
    t.start_config("""\
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    retries: 2
    servers: ["127.0.0.1:%d", "127.0.0.1:%d", "%s"]
""" % (port, d1, d2, live.hostport), cfg_name="r2.yaml")
    seq = [t.identify(addr) for _ in range(6)]
    t.eq(seq, ["LIVE"] * 6, "retries 2 over [dead, dead, live]")


run(test)
