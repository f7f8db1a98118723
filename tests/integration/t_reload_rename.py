"""A server's runtime state follows its address across a reload, whatever
its pool or listener is called now: renaming a pool never lets a second
connection past max_connections 1, a DOWN server stays DOWN after its pool
is renamed, and a renamed listener keeps its connection count."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def hc_handler(kind):
    def h(c, b):
        first = c.recv(64)
        if first.startswith(b"PING"):
            c.sendall(b"+PONG\r\n" if kind == "good" else b"-ERR\r\n")
            return
        b.record("traffic")
        c.sendall(b.name.encode() + b"\n")
    return h


def ask(addr, timeout=2):
    try:
        s = connect(addr, timeout=timeout)
    except OSError:
        return None
    try:
        s.sendall(b"HELLO\n")
        return recv_line(s, timeout)
    finally:
        s.close()


def test(t):
    # 1. max_connections 1 across a pool rename (and a server rename).
    a = t.identify_backend("A")
    port = free_port()
    addr = ("127.0.0.1", port)
    limited = """\
listeners:
  front: {bind: "127.0.0.1:%%d", pool: %s}
pools:
  %s:
    retries: 0
    servers: [{address: "%%s", name: %s, max_connections: 1}]
"""
    lb = t.start_config((limited % ("web", "web", "one")) % (port, a.hostport))
    held, name = t.hold(addr)
    t.eq(name, "A", "first connection")
    t.reload(lb, (limited % ("www", "www", "uno")) % (port, a.hostport))
    second = t.identify(addr, timeout=1)
    t.log("second connection after renaming the pool:", second,
          "backend max_active", a.stats()["max_active"])
    t.eq(second, None, "a second connection past max_connections 1")
    t.eq(a.stats()["max_active"], 1, "concurrent connections at the server")
    held.close()
    t.check(wait_until(lambda: a.stats()["active"] == 0, 2), "held connection not closed")
    t.check(wait_until(lambda: t.identify(addr, timeout=1) == "A", 3),
            "the slot did not come free after the first connection closed")
    lb.stop()

    # 2. A DOWN server stays DOWN when its pool is renamed.
    good = t.thread_backend(hc_handler("good"), name="good")
    bad = t.thread_backend(hc_handler("bad"), name="bad")
    port = free_port()
    addr = ("127.0.0.1", port)
    checked = """\
listeners:
  front: {bind: "127.0.0.1:%d", pool: %s}
pools:
  %s:
    health_check: {interval: %s, timeout: 300ms, rise: 2, fall: 1,
                   send: "PING\\r\\n", expect: "+PONG"}
    servers:
      - {address: "%s", name: good}
      - {address: "%s", name: bad}
"""
    t.notify = None
    lb = t.start_config(checked % (port, "p", "p", "200ms", good.hostport, bad.hostport),
                        cfg_name="checked.yaml")
    t.check(lb.wait_stderr(r"server p/bad \(.*\) is DOWN", timeout=3), "bad never marked down")
    off = len(lb.stderr())
    bad.results.clear()
    # Slow checks after the rename: a reset state would stay wrong a while.
    t.reload(lb, checked % (port, "q", "q", "5s", good.hostport, bad.hostport))
    names = [ask(addr) for _ in range(12)]
    t.log("after renaming the pool:", names)
    t.eq(set(names), {"good"}, "servers used after renaming the pool")
    t.eq(len(bad.results), 0, "client connections to the DOWN server")
    t.check(not re.search(r"bad.* is UP", lb.stderr()[off:]), "bad came back UP")
    lb.stop()

    # 3. A renamed listener keeps its count (listener max_connections 1).
    b = t.identify_backend("B")
    port = free_port()
    addr = ("127.0.0.1", port)
    lcfg = """\
listeners:
  %s: {bind: "127.0.0.1:%d", pool: p, max_connections: 1}
pools:
  p:
    servers: ["%s"]
"""
    t.notify = None
    lb = t.start_config(lcfg % ("front", port, b.hostport), cfg_name="listener.yaml")
    held, name = t.hold(addr)
    t.eq(name, "B", "first connection")
    t.reload(lb, lcfg % ("renamed", port, b.hostport))
    second = t.identify(addr, timeout=1)
    t.log("second connection after renaming the listener:", second)
    t.eq(second, None, "a second connection past the listener's max_connections 1")
    t.eq(b.stats()["max_active"], 1, "concurrent connections through the listener")


run(test)
