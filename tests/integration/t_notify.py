"""sd_notify: READY=1 only once the port accepts, STATUS=, SIGHUP ->
RELOADING=1 + MONOTONIC_USEC= then READY=1, SIGTERM -> STOPPING=1."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def test(t):
    b = t.identify_backend("A")
    port = free_port()

    def on_message(text):
        # runs in the receiver thread the moment the datagram arrives
        if "READY=1" in text.split("\n"):
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=0.5)
                s.close()
                return "port accepts"
            except OSError as e:
                return "port does not accept: %r" % e
        return None

    n = t.notify_receiver(on_message)
    cfg = """\
listeners:
  front:
    bind: 127.0.0.1:%d
    pool: p
pools:
  p:
    servers:
      - %s
""" % (port, b.hostport)
    lb = t.start_config(cfg)
    ents = n.entries()
    ready = [e for e in ents if "READY=1" in e[1].split("\n")]
    t.eq(len(ready), 1, "READY=1 datagrams at start")
    t.eq(ready[0][2], "port accepts", "state of the port when READY=1 arrived")
    t.check(n.wait_for("STATUS=", timeout=1), "no STATUS= at start")
    st = [l for m in n.messages() for l in m.split("\n") if l.startswith("STATUS=")]
    t.log("STATUS lines at start:", st)
    t.check(any(len(l) > len("STATUS=") for l in st), "STATUS= is empty")
    t.eq(t.identify(("127.0.0.1", port)), "A", "served")

    # reload
    for i in range(2):
        start = n.count()
        before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        lb.signal(signal.SIGHUP)
        r = n.wait_for("RELOADING=1", start=start, timeout=5)
        after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        t.check(r, "no RELOADING=1 after SIGHUP")
        lines = r[1].split("\n")
        mono = [l for l in lines if l.startswith("MONOTONIC_USEC=")]
        t.check(mono, "RELOADING=1 datagram lacks MONOTONIC_USEC=: %r" % r[1])
        usec = int(mono[0].split("=", 1)[1])
        t.check(before - 1000000 <= usec <= after + 1000000,
                "MONOTONIC_USEC=%d is not CLOCK_MONOTONIC now (%d..%d)" % (usec, before, after))
        r2 = n.wait_for("READY=1", start=r[0], timeout=5)
        t.check(r2, "no READY=1 after RELOADING=1")
        t.check(r2[0] > r[0], "READY=1 must come in a datagram after RELOADING=1")
        t.eq(t.identify(("127.0.0.1", port)), "A", "served after reload %d" % i)
        t.log("reload %d: RELOADING=1 (MONOTONIC_USEC=%d) then READY=1" % (i, usec))

    # stop
    start = n.count()
    lb.signal(signal.SIGTERM)
    r = n.wait_for("STOPPING=1", start=start, timeout=3)
    t.check(r, "no STOPPING=1 after SIGTERM")
    rc = lb.wait(5)
    t.eq(rc, 0, "exit status")
    t.log("datagrams:", n.messages())


run(test)
