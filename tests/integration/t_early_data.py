"""Data (and EOF) a client sends before tcplb's connect to the server has
completed is delivered, also when the first server tried times out and the
next one is used."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def recorder(c, b):
    data = bytearray()
    while True:
        d = c.recv(65536)
        if not d:
            break
        data += d
    b.record(bytes(data))


def test(t):
    live = t.thread_backend(recorder, name="rec")
    lb = t.start_quick([live.hostport], extra=["-w", "2"])
    N = 200
    payloads = []
    for i in range(N):
        p = (b"early-%03d-" % i) * (1 + (i % 7) * 300)
        payloads.append(p)
        s = connect(lb.addr)
        s.sendall(p)
        s.close()                      # data + FIN at once
    t.check(wait_until(lambda: len(live.results) >= N, 10), "backend got %d of %d sessions"
            % (len(live.results), N))
    got = sorted(live.results)
    want = sorted(payloads)
    missing = [w[:12] for w in want if w not in got]
    t.check(got == want, "%d payloads lost or damaged (e.g. %s); lengths got %s"
            % (len(missing), missing[:3], sorted(len(g) for g in got)[:5]))
    t.log("%d connect-send-close sessions delivered intact" % N)

    # with a server that never answers the connect tried first
    hang = t.hanging_backend()
    live.results.clear()
    port = free_port()
    t.start_config("""\
global:
  workers: 1
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    connect_timeout: 300ms
    servers: ["%s", "%s"]
""" % (port, hang.hostport, live.hostport))
    payloads = []
    for i in range(4):
        p = b"while-waiting-%d|" % i * 1000
        payloads.append(p)
        s = connect(("127.0.0.1", port))
        s.sendall(p)
        s.shutdown(socket.SHUT_WR)
        data, how = recv_until_eof(s, 3)
        s.close()
        t.check(how in ("eof", "reset"), "session %d did not end (%s)" % (i, how))
    t.check(wait_until(lambda: len(live.results) >= 4, 3), "live got %d of 4" % len(live.results))
    t.eq(sorted(live.results), sorted(payloads), "bytes sent while tcplb waited for a server")


run(test)
