"""A queued client whose request was already read -- the bytes after a
PROXY header, held by inspection -- and which then half-closes is waiting
for its answer: it keeps its place in the queue and its request reaches
the server (queued-socket watching must not take the empty socket buffer
for "nothing to forward").  A client that half-closes with nothing sent
after its header still leaves the queue at once."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *

HDR = b"PROXY TCP4 198.51.100.7 192.0.2.1 40000 80\r\n"


def test(t):
    a = t.identify_backend("A")
    port = free_port()
    lb = t.start_config("""\
global:
  workers: 1
listeners:
  front:
    bind: "127.0.0.1:%d"
    pool: p
    accept_proxy: true
    trusted: ["127.0.0.0/8"]
pools:
  p:
    max_queue: 10
    queue_timeout: 20s
    servers:
      - {address: "%s", max_connections: 1}
""" % (port, a.hostport), extra=["-v"])
    addr = ("127.0.0.1", port)

    held = connect(addr, timeout=5)
    t.add_closer(held)
    held.sendall(HDR)
    t.eq(recv_line(held, 5), "A", "slot holder")

    # header and request in one segment, then FIN: all of it is read by
    # inspection before the client is queued
    c = connect(addr, timeout=5)
    t.add_closer(c)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c.sendall(HDR + b"GET / HTTP/1.0\r\n\r\n")
    c.shutdown(socket.SHUT_WR)
    # the same with the request after the header was read
    c2 = connect(addr, timeout=5)
    t.add_closer(c2)
    c2.sendall(HDR)
    time.sleep(0.3)
    c2.sendall(b"late")
    c2.shutdown(socket.SHUT_WR)
    # header only, then FIN: nothing to serve, leaves the queue
    d = connect(addr, timeout=5)
    t.add_closer(d)
    d.sendall(HDR)
    time.sleep(0.3)
    d.shutdown(socket.SHUT_WR)
    time.sleep(0.7)
    held.close()
    got = recv_until_eof(c, 5)[0]
    t.eq(got, b"A\nGET / HTTP/1.0\r\n\r\n", "half-closed queued client with held bytes")
    t.eq(recv_until_eof(c2, 5)[0], b"A\nlate", "half-closed queued client, request after header")
    t.eq(recv_until_eof(d, 5)[0], b"", "header-only client")
    t.check(lb.wait_stderr(r"left the queue of pool p: client closed", 3),
            "the header-only client did not leave the queue")
    t.check(lb.alive(), "tcplb died")


run(test, timeout=60)
