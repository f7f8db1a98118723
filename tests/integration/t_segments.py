"""A short exchange through tcplb costs as few TCP segments as the kernel
allows (issue 23), counted with TCP_INFO (tcpi_segs_in) at both ends:

  - the handshake's last ACK to the server rides on the client's first
    bytes (read before the connect; TCP_QUICKACK 0 on the server socket):
    the server has received only SYN + request when its accept() returns;
  - the server's answer is acknowledged by tcplb's FIN, not by an ACK of
    its own (the socket stays in delayed-ACK mode);
  - an answer sent together with the server's FIN reaches the client
    together with the FIN (EOF probe, MSG_MORE, then shutdown);
  - a server that speaks first is not held back by any of it: with no
    client bytes in hand the handshake is acknowledged at once, and the
    banner arrives without waiting for a delayed-ACK timer (200 ms).

A delayed ACK may still fire on a loaded machine, so the ACK that rides on
tcplb's FIN is required in most exchanges, not all; the other counts are
exact.  The old behaviour gives 3, 5 and 4 segments where this test wants
2, 3 and 3."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *

TCP_INFO = getattr(socket, "TCP_INFO", 11)
ROUNDS = 5


def segs_in(s):
    """tcpi_segs_in: segments this socket has received (offset 140 of
    struct tcp_info, Linux 4.2+)."""
    info = s.getsockopt(socket.IPPROTO_TCP, TCP_INFO, 256)
    if len(info) < 144:
        raise Skip("TCP_INFO has no tcpi_segs_in here")
    return struct.unpack_from("I", info, 140)[0]


def answer_and_close(c, b):
    req = c.recv(4096)
    at_request = segs_in(c)
    # The answer and the FIN in one segment, as a server that writes its
    # last bytes and closes at once usually sends them.
    c.send(b"answer to " + req, socket.MSG_MORE)
    c.shutdown(socket.SHUT_WR)
    rest = b""
    while True:
        d = c.recv(4096)
        if not d:
            break
        rest += d
    b.record((req, at_request, segs_in(c), rest))


def banner_first(c, b):
    c.sendall(b"220 hello\r\n")
    got = c.recv(4096)
    c.sendall(b"echo " + got)
    c.shutdown(socket.SHUT_WR)
    while c.recv(4096):
        pass


def test(t):
    srv = t.thread_backend(answer_and_close, name="answer")
    ban = t.thread_backend(banner_first, name="banner")
    p1, p2 = free_port(), free_port()
    lb = t.start_config("""\
global: {workers: 1}
listeners:
  short: {bind: "127.0.0.1:%d", pool: short}
  banner: {bind: "127.0.0.1:%d", pool: banner}
pools:
  short: {servers: ["%s"]}
  banner: {servers: ["%s"]}
""" % (p1, p2, srv.hostport, ban.hostport))

    client_segs = []
    for i in range(ROUNDS):
        # The request is in tcplb's socket before it accepts, as an HTTP
        # client's usually is under load: tcplb is stopped meanwhile.
        lb.signal(signal.SIGSTOP)
        t.check(wait_until(lambda: all_stopped(lb.pid), 5), "tcplb did not stop")
        try:
            s = connect(("127.0.0.1", p1))
            s.sendall(b"request %d" % i)
            time.sleep(0.01)
        finally:
            lb.signal(signal.SIGCONT)
        data, how = recv_until_eof(s, timeout=5)
        t.eq((data, how), (b"answer to request %d" % i, "eof"), "round %d: the answer, then EOF" % i)
        client_segs.append(segs_in(s))
        s.close()
    t.check(wait_until(lambda: len(srv.results) >= ROUNDS, 5),
            "the server saw %d of %d exchanges end" % (len(srv.results), ROUNDS))
    results = sorted(srv.results)
    for req, at_request, total, rest in results:
        t.eq(rest, b"", "nothing after the request")
        # SYN, then the request carrying the handshake's last ACK.
        t.eq(at_request, 2, "%r: segments at the server when the request "
             "arrived (SYN + request; 3 = a bare handshake ACK was sent)" % req)
    # SYN, request, tcplb's FIN (which acknowledges the answer).
    finals = [r[2] for r in results]
    t.check(sum(1 for n in finals if n == 3) >= ROUNDS - 2,
            "segments at the server per exchange %s: want 3 (SYN, request, FIN) "
            "in most; 4+ = the answer got an ACK of its own" % finals)
    # SYN-ACK, the ACK of the request, the answer carrying the FIN.
    for i, n in enumerate(client_segs):
        t.check(n <= 3, "round %d: the client received %d segments; want 3 "
                "(SYN-ACK, ACK, answer + FIN): the FIN came apart" % (i, n))

    # Server speaks first: no client bytes in hand, nothing delayed.
    for i in range(3):
        s = connect(("127.0.0.1", p2))
        s.settimeout(5)
        t0 = time.monotonic()
        banner = recv_line(s)
        took = time.monotonic() - t0
        t.eq(banner, "220 hello\r", "banner %d" % i)
        t.check(took < 0.15, "banner %d took %.0f ms (a delayed handshake ACK "
                "holds a server-speaks-first protocol ~200 ms)" % (i, took * 1000))
        s.sendall(b"hi")
        data, how = recv_until_eof(s, timeout=5)
        t.eq((data, how), (b"echo hi", "eof"), "banner %d: the reply" % i)
        s.close()
    t.check(lb.alive(), "tcplb died")


run(test)
