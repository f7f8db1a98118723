"""A client whose request was read before its first connect attempt
(session_read_early), whose attempt failed (a dead server), and which then
waits in the queue for the other server's slot, keeps its place when it
half-closes: the request is in tcplb's buffer, not in the socket, and
queued-socket watching must not take the empty socket for "nothing to
forward".  Its request reaches the server once the slot frees.  A client
that half-closes with nothing sent still leaves the queue at once."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def test(t):
    a = t.identify_backend("A")
    dead = refused_port()
    port = free_port()
    lb = t.start_config("""\
global:
  workers: 1
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    balance: first
    max_fails: 0
    retries: 2
    max_queue: 10
    queue_timeout: 20s
    servers:
      - "127.0.0.1:%d"
      - {address: "%s", max_connections: 1}
""" % (port, dead, a.hostport), extra=["-v"])
    addr = ("127.0.0.1", port)

    held = connect(addr, timeout=5)
    t.add_closer(held)
    held.sendall(b"x")
    t.eq(recv_line(held, 5), "A", "slot holder")

    # The request is there when tcplb accepts (tcplb is stopped
    # meanwhile): read before the attempt to the dead server, then queued
    # for the live one, and then the client half-closes.
    lb.signal(signal.SIGSTOP)
    t.check(wait_until(lambda: all_stopped(lb.pid), 5), "tcplb did not stop")
    try:
        c = connect(addr, timeout=5)
        t.add_closer(c)
        c.sendall(b"GET / HTTP/1.0\r\n\r\n")
        time.sleep(0.05)
    finally:
        lb.signal(signal.SIGCONT)
    time.sleep(0.3)
    c.shutdown(socket.SHUT_WR)
    # nothing sent, then FIN: nothing to serve, leaves the queue
    d = connect(addr, timeout=5)
    t.add_closer(d)
    time.sleep(0.3)
    d.shutdown(socket.SHUT_WR)
    time.sleep(0.7)
    held.close()
    got, how = recv_until_eof(c, 5)
    t.eq((got, how), (b"A\nGET / HTTP/1.0\r\n\r\n", "eof"),
         "half-closed queued client whose request was read before connecting")
    t.eq(recv_until_eof(d, 5)[0], b"", "client that sent nothing")
    t.check(lb.wait_stderr(r"left the queue of pool p: client closed", 3),
            "the client that sent nothing did not leave the queue")
    t.check(lb.alive(), "tcplb died")


run(test, timeout=60)
