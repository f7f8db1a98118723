"""SIGTERM: listeners close at once, open sessions run on up to
global.shutdown_timeout, exit 0; a session that never ends is cut at the
timeout; a second SIGTERM exits at once; SIGINT behaves like SIGTERM."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def config(port, backend, timeout):
    return """\
global:
  shutdown_timeout: %s
listeners:
  front:
    bind: 127.0.0.1:%d
    pool: p
pools:
  p:
    servers:
      - %s
""" % (timeout, port, backend)


def refused(addr):
    try:
        s = connect(addr, timeout=0.5)
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    s.close()
    return False


def test(t):
    b = t.backend("echo")

    # 1. the open session finishes its work, then tcplb exits 0
    port = free_port()
    addr = ("127.0.0.1", port)
    lb = t.start_config(config(port, b.hostport, "3s"), cfg_name="a.yaml")
    s = connect(addr)
    t.check(t.echo_ok(s), "echo before SIGTERM")
    t0 = time.monotonic()
    lb.signal(signal.SIGTERM)
    t.check(wait_until(lambda: refused(addr), 1.0, 0.05),
            "new connections still accepted 1s after SIGTERM")
    t.log("listener closed %.3fs after SIGTERM" % (time.monotonic() - t0))
    for i in range(6):
        t.check(t.echo_ok(s, b"during drain %d" % i), "echo #%d during the drain" % i)
        time.sleep(0.15)
    t.check(lb.alive(), "tcplb exited while a session was still open")
    s.close()
    tc = time.monotonic()
    rc = lb.wait(2.0)
    t.log("exit %s %.3fs after the last session closed (%.3fs after SIGTERM)"
          % (rc, time.monotonic() - tc, time.monotonic() - t0))
    t.check(rc is not None, "tcplb did not exit within 2s after its last session ended")
    t.eq(rc, 0, "exit status after SIGTERM")
    t.check(time.monotonic() - t0 < 3.0, "tcplb waited for the whole shutdown_timeout "
            "although its last session had ended")

    # 2. a session that never ends is cut at shutdown_timeout (1s)
    port = free_port()
    addr = ("127.0.0.1", port)
    lb = t.start_config(config(port, b.hostport, "1s"), cfg_name="b.yaml")
    s = connect(addr)
    t.check(t.echo_ok(s), "echo before SIGTERM")
    t0 = time.monotonic()
    lb.signal(signal.SIGTERM)
    rc = lb.wait(3.0)
    dt = time.monotonic() - t0
    t.log("with a stuck session: exit %s after %.3fs" % (rc, dt))
    t.check(rc is not None, "tcplb still running 3s after SIGTERM (shutdown_timeout 1s)")
    t.eq(rc, 0, "exit status")
    t.check(dt >= 0.9, "tcplb exited after %.2fs without letting the session run for "
            "shutdown_timeout (1s)" % dt)
    t.check(dt <= 1.6, "tcplb exited %.2fs after SIGTERM, shutdown_timeout is 1s" % dt)
    data, how = recv_until_eof(s, timeout=1)
    t.check(how in ("eof", "reset"), "client not closed when tcplb exited (%s)" % how)
    s.close()

    # 3. a second SIGTERM exits at once
    port = free_port()
    addr = ("127.0.0.1", port)
    lb = t.start_config(config(port, b.hostport, "20s"), cfg_name="c.yaml")
    s = connect(addr)
    t.check(t.echo_ok(s), "echo before SIGTERM")
    lb.signal(signal.SIGTERM)
    time.sleep(0.3)
    t.check(lb.alive(), "exited at the first SIGTERM with a session open (shutdown_timeout 20s)")
    t0 = time.monotonic()
    lb.signal(signal.SIGTERM)
    rc = lb.wait(2.0)
    dt = time.monotonic() - t0
    t.log("second SIGTERM: exit %s after %.3fs" % (rc, dt))
    t.check(rc is not None and dt < 1.0, "second SIGTERM did not exit at once")
    t.check(rc >= 0, "killed by signal %d instead of exiting" % -rc)
    t.eq(rc, 0, "exit status after a second SIGTERM")
    s.close()

    # 4. SIGINT in quick mode, nothing open: exit 0 promptly, one stdout line
    lb = t.start_quick([b.hostport])
    s = connect(lb.addr)
    t.check(t.echo_ok(s), "quick-mode echo")
    s.close()
    t.check(wait_until(lambda: b.stats()["active"] == 0, 2), "session did not end")
    time.sleep(0.1)
    t0 = time.monotonic()
    lb.signal(signal.SIGINT)
    rc = lb.wait(2.0)
    t.log("SIGINT: exit %s after %.3fs" % (rc, time.monotonic() - t0))
    t.eq(rc, 0, "exit status after SIGINT")
    lines = [l for l in lb.stdout().split("\n") if l.strip()]
    t.eq(len(lines), 1, "stdout lines in quick mode: %r" % lines)


run(test)
