"""Every backend refuses: the client is reset promptly, tcplb keeps
running, and serves again once a backend appears."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def test(t):
    ports = [refused_port() for _ in range(3)]
    lb = t.start_quick(["127.0.0.1:%d" % p for p in ports])
    for i in range(10):
        # Refusals are resets: one may arrive before connect() returns.
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        cport = s.getsockname()[1]
        s.settimeout(2)
        t0 = time.monotonic()
        try:
            s.connect(lb.addr)
            data, how = recv_until_eof(s, timeout=3)
        except ConnectionResetError:
            data, how = b"", "reset"
        dt = time.monotonic() - t0
        s.close()
        t.check(how in ("eof", "reset") and data == b"",
                "client #%d: got %r/%s instead of a close" % (i, data, how))
        t.check(dt < 1.0, "client #%d closed only after %.2fs" % (i, dt))
        # a reset, not a FIN: a client of a server-speaks-first protocol
        # could not tell a FIN from an empty answer
        t.check(how == "reset", "client #%d: no server reachable closed with a FIN" % i)
    t.check(lb.alive(), "tcplb exited (status %s)" % lb.proc.returncode)
    t.log("10 clients closed promptly while every backend refused")
    # the log says why the last client was closed
    m = lb.wait_stderr(r"^.*127\.0\.0\.1:%d\b.*(refused|reachable|available|down|fail|no server).*$"
                       % cport, timeout=2, flags=re.M | re.I)
    t.check(m, "no log line says why client 127.0.0.1:%d was closed" % cport)
    t.log("log:", m.group(0))

    # a backend appears on one of the ports
    b = t.identify_backend("BACK", port=ports[1])
    t0 = time.monotonic()
    served = None
    attempts = 0
    while time.monotonic() - t0 < 15:
        attempts += 1
        c0 = time.monotonic()
        try:
            s = connect(lb.addr)
        except ConnectionResetError:
            time.sleep(0.1)
            continue
        name = recv_line(s, 2)
        cdt = time.monotonic() - c0
        s.close()
        if name is not None:
            served = name
            break
        t.check(cdt < 1.0, "a client was held %.2fs before being closed" % cdt)
        time.sleep(0.1)
    dt = time.monotonic() - t0
    t.eq(served, "BACK", "served after the backend appeared (%d attempts, %.2fs)" % (attempts, dt))
    t.log("served again %.2fs after the backend appeared (%d attempts)" % (dt, attempts))
    for i in range(5):
        t.eq(t.identify(lb.addr), "BACK", "client #%d after recovery" % i)


run(test)
