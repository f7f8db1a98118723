"""idle_timeout 1s: an idle session is closed (both sides) within 1-2.5 s; a
session that moves a byte every 300 ms survives."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def test(t):
    b = t.backend("echo")
    port = free_port()
    cfg = """\
defaults:
  idle_timeout: 1s
listeners:
  front:
    bind: 127.0.0.1:%d
    pool: p
pools:
  p:
    servers:
      - %s
""" % (port, b.hostport)
    t.start_config(cfg)
    addr = ("127.0.0.1", port)

    busy = {"ok": 0, "err": None}

    def chatty():
        try:
            s = connect(addr)
            end = time.monotonic() + 2.6
            while time.monotonic() < end:
                s.sendall(b"x")
                if recv_exact(s, 1, 1.0) != b"x":
                    raise TestFailure("wrong echo")
                busy["ok"] += 1
                time.sleep(0.3)
            s.close()
        except Exception as e:
            busy["err"] = repr(e)

    th = threading.Thread(target=chatty, daemon=True)
    th.start()
    s = connect(addr)
    t.check(t.echo_ok(s, b"once"), "echo on the idle connection")
    last = time.monotonic()
    t.check(wait_until(lambda: b.stats()["active"] == 2, 2), "backend does not see 2 sessions")
    data, how = recv_until_eof(s, timeout=4)
    dt = time.monotonic() - last
    t.log("idle session ended by %s after %.3fs" % (how, dt))
    t.check(how in ("eof", "reset"), "idle session not closed within 4s (%s)" % how)
    t.check(0.9 <= dt <= 2.5, "idle session closed after %.2fs, want 1-2.5s" % dt)
    # the backend side of the idle session is closed too, the busy one not
    t.check(wait_until(lambda: b.stats()["active"] == 1, 1.0),
            "backend still has %d sessions after the idle close (want 1: the busy one)"
            % b.stats()["active"])
    th.join(5)
    t.check(busy["err"] is None, "busy session failed: %s (after %d echoes)" % (busy["err"], busy["ok"]))
    t.check(busy["ok"] >= 7, "busy session made only %d round trips" % busy["ok"])
    t.log("busy session made %d round trips over 2.6s" % busy["ok"])


run(test)
