"""With all 64 metrics slots taken (by 16 addresses, within the
per-source cap), the next client gets the documented "503 Service
Unavailable" and can read it -- also when its request was in the socket
before tcplb accepted (a busy main loop: close() with unread input sends
a reset after the answer).  Once the slots are free a scraper is served
again: nobody is locked out."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def test(t):
    pm, port = free_port(), free_port()
    a = t.identify_backend("A")
    lb = t.start_config("""\
global:
  metrics: "127.0.0.1:%d"
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p: {servers: ["%s"]}
""" % (pm, port, a.hostport))
    maddr = ("127.0.0.1", pm)
    # 64 clients that have not sent their head yet (well within its 5 s),
    # from 16 addresses (4 each: the per-source cap)
    hold = [connect(maddr, timeout=5, source="127.0.0.%d" % (10 + i // 4))
            for i in range(64)]
    for s in hold:
        t.add_closer(s)
    time.sleep(0.5)
    answers = []
    for _ in range(10):
        c = connect(maddr, timeout=5, source="127.0.0.%d" % (100 + len(answers)))
        t.add_closer(c)
        try:
            c.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(0.05)        # the answer has come and gone
            answers.append(recv_until_eof(c, 5)[0].split(b"\r\n")[0])
        except OSError as e:
            answers.append(repr(e).encode())
        c.close()
    # The same when the request is in before tcplb accepts (a busy main
    # loop; here tcplb is stopped while the clients connect and send).
    late = []
    os.kill(lb.pid, signal.SIGSTOP)
    try:
        for i in range(5):
            c = connect(maddr, timeout=5, source="127.0.0.%d" % (120 + i))
            t.add_closer(c)
            c.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            late.append(c)
        time.sleep(0.2)
    finally:
        os.kill(lb.pid, signal.SIGCONT)
    time.sleep(0.3)
    for c in late:
        try:
            answers.append(recv_until_eof(c, 5)[0].split(b"\r\n")[0])
        except OSError as e:
            answers.append(repr(e).encode())
    t.log("answers with every slot taken: %r" % answers)
    t.eq(answers.count(b"HTTP/1.1 503 Service Unavailable"), len(answers),
         "clients over the limit that got the 503")
    for s in hold:
        s.close()
    time.sleep(0.3)
    st, _, body = http_get(maddr, "/metrics")
    t.eq(st, 200, "a scrape once the slots are free")
    t.check(lb.alive(), "tcplb died")


run(test, timeout=60)
