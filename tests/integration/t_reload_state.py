"""A reload keeps runtime state of servers that stay: a server marked down
by health checks stays down (no traffic right after the reload), and active
connection counts keep steering leastconn."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def hc_handler(kind):
    def handler(c, b):
        first = c.recv(64)
        if first.startswith(b"PING"):
            c.sendall(b"+PONG\r\n" if kind == "good" else b"-ERR\r\n")
            return
        b.record("traffic")
        c.sendall(b.name.encode() + b"\n")
        c.settimeout(2)
        try:
            c.recv(10)
        except OSError:
            pass
    return handler


def test(t):
    good = t.thread_backend(hc_handler("good"), name="good")
    bad = t.thread_backend(hc_handler("bad"), name="bad")
    port = free_port()
    addr = ("127.0.0.1", port)

    def cfg(interval, extra=""):
        return """\
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    health_check:
      interval: %s
      timeout: 300ms
      rise: 2
      fall: 1
      send: "PING\\r\\n"
      expect: "+PONG"
    servers:
      - {address: "%s", name: good}
      - {address: "%s", name: bad}
%s""" % (port, interval, good.hostport, bad.hostport, extra)

    lb = t.start_config(cfg("200ms"))
    t.check(lb.wait_stderr(r"^.*\bbad\b.*\bdown\b.*$", timeout=3, flags=re.M | re.I),
            "bad never marked down")
    time.sleep(0.3)
    # reload: slower checks, so a reset state would stay wrong for a while
    bad.results.clear()
    t.reload(lb, cfg("5s"))
    names = []
    for i in range(10):
        s = connect(addr)
        s.sendall(b"HELLO\n")
        names.append(recv_line(s, 2))
        s.close()
    t.log("right after the reload:", names)
    t.eq(set(names), {"good"}, "servers used right after a reload")
    t.eq(len(bad.results), 0, "traffic to the server that is down")
    lb.stop()

    # leastconn counts survive a reload
    a = t.identify_backend("A")
    b = t.identify_backend("B")
    port = free_port()
    addr = ("127.0.0.1", port)
    lc = """\
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    balance: leastconn
    idle_timeout: %s
    servers: ["%s", "%s"]
"""
    t.notify = None
    lb = t.start_config(lc % (port, "5m", a.hostport, b.hostport), cfg_name="lc.yaml")
    held = [t.hold(addr) for _ in range(6)]
    t.eq(sorted(n for _, n in held), ["A"] * 3 + ["B"] * 3, "6 held leastconn connections")
    on_a = [s_ for s_, n in held if n == "A"]
    for s_, n in held:
        if n == "B":
            s_.close()
    t.check(wait_until(lambda: b.stats()["active"] == 0, 2), "closes not seen at B")
    time.sleep(0.1)
    t.eq(len(on_a), 3, "connections held on A")
    t.reload(lb, lc % (port, "10m", a.hostport, b.hostport))
    after = [t.hold(addr)[1] for _ in range(3)]
    t.log("with 3 old sessions on A, after the reload new ones went to", after)
    t.eq(after, ["B", "B", "B"], "leastconn after a reload (A still has 3 sessions)")


run(test)
