"""A reload that fails changes nothing, not even runtime state: a server that
health checks hold DOWN stays DOWN when a reload that would have dropped the
check (and so revived it) fails because a new listener's port is taken, and
no client reaches it afterwards."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def handler(kind):
    # Checks send PING: the good server answers +PONG, the bad one -ERR.
    # Anything else is client traffic, answered with the name.
    def h(c, b):
        first = c.recv(64)
        if first.startswith(b"PING"):
            c.sendall(b"+PONG\r\n" if kind == "good" else b"-ERR\r\n")
            return
        b.record("traffic")
        c.sendall(b.name.encode() + b"\n")
    return h


def ask(addr):
    try:
        s = connect(addr)
    except OSError:
        return None
    try:
        s.sendall(b"HELLO\n")
        return recv_line(s, 2)
    finally:
        s.close()


def test(t):
    good = t.thread_backend(handler("good"), name="good")
    bad = t.thread_backend(handler("bad"), name="bad")
    port = free_port()
    addr = ("127.0.0.1", port)
    # A port someone else holds: the reload's new listener cannot bind it.
    taken = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    t.add_closer(taken)
    taken_port = taken.getsockname()[1]

    checked = """\
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    retries: 0
    health_check: {interval: 200ms, timeout: 300ms, rise: 2, fall: 1,
                   send: "PING\\r\\n", expect: "+PONG"}
    servers:
      - {address: "%s", name: good}
      - {address: "%s", name: bad}
""" % (port, good.hostport, bad.hostport)
    lb = t.start_config(checked)
    t.check(lb.wait_stderr(r"server p/bad \(.*\) is DOWN", timeout=3),
            "bad never marked down")
    off = len(lb.stderr())

    # Without the check, adopting bad's state would mark it up again --
    # but this file cannot be applied: the second listener's port is taken.
    unchecked = """\
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
  other: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    retries: 0
    servers:
      - {address: "%s", name: good}
      - {address: "%s", name: bad}
""" % (port, taken_port, good.hostport, bad.hostport)
    bad.results.clear()
    msgs = t.reload(lb, unchecked)
    t.log("reload datagrams:", msgs)
    t.check(any("reload failed" in m for m in msgs), "the reload did not fail: %r" % msgs)
    names = [ask(addr) for _ in range(20)]
    t.log("after the failed reload:", names)
    t.eq(set(names), {"good"}, "servers used after a failed reload")
    t.eq(len(bad.results), 0, "client connections that reached the DOWN server")
    t.check(not re.search(r"bad.* is UP", lb.stderr()[off:]),
            "a failed reload marked bad UP:\n" + lb.stderr()[off:])


run(test)
