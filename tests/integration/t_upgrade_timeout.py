"""Issue 20 item 5: the drain after a binary upgrade is its own decision.
By default (upgrade_timeout unlimited, as HAProxy and nginx) a session
held longer than shutdown_timeout survives the upgrade until it ends;
with upgrade_timeout set, the old process closes what is left after that
long (measured); and a stop of the unit (SIGTERM to the new main process)
ends the old process too, within shutdown_timeout."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from upglib import *

CFG = """\
global:
  shutdown_timeout: 1s
%s
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    servers: ["%s"]
"""


def closed_within(s, limit):
    """Seconds until the peer closes s (None: still open after limit)."""
    s.settimeout(0.1)
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        try:
            if s.recv(100) == b"":
                return time.monotonic() - t0
        except socket.timeout:
            continue
        except OSError:
            return time.monotonic() - t0
    return None


def test(t):
    a = t.backend("A")
    port = free_port()
    cfg = t.write("tcplb.yaml", CFG % ("", port, a.hostport))
    run = UpgradeRun(t, cfg)
    s = connect(("127.0.0.1", port))
    t.check(t.echo_ok(s, b"before"), "session works")

    # default: unlimited -- still open after 3 x shutdown_timeout
    run.upgrade()
    time.sleep(3.0)
    t.check(pid_alive(run.old), "the old process gave up its session after shutdown_timeout")
    t.check(t.echo_ok(s, b"after 3s"), "the session held across the upgrade was cut")
    t.check(run.lb.stderr().count("until they finish (upgrade_timeout unlimited)") == 1,
            "the log says how long it waits")
    # a stop of the unit ends the old process within shutdown_timeout
    t0 = time.monotonic()
    os.kill(run.main, signal.SIGTERM)
    gone = closed_within(s, 10)
    t.log("stop: the old process closed its session after %.2fs" % (gone or -1))
    t.check(gone is not None and gone < 1.0 + 2.0, "the stop did not end the old process in time")
    t.eq(run.lb.wait(10), 0, "the old process exits 0")
    t.check(wait_until(lambda: not pid_alive(run.main), 5), "the new main process stops")
    t.log("stop with a draining old process took %.2fs" % (time.monotonic() - t0))

    # upgrade_timeout: 2s -- the old process closes the rest after 2 s
    t.write("tcplb.yaml", CFG % ("  upgrade_timeout: 2s", port, a.hostport))
    run = UpgradeRun(t, cfg)
    s = connect(("127.0.0.1", port))
    t.check(t.echo_ok(s, b"x"), "session works")
    t0 = time.monotonic()
    run.upgrade()
    gone = closed_within(s, 10)
    took = time.monotonic() - t0
    t.log("upgrade_timeout 2s: the held session was closed %.2fs after SIGUSR2" % took)
    t.check(gone is not None and 1.8 <= took <= 6.0, "upgrade_timeout not kept: %.2fs" % took)
    t.eq(run.lb.wait(10), 0)
    run.stop_main()
    # bad values are named
    t.write("bad.yaml", CFG % ("  upgrade_timeout: forever", port, a.hostport))
    rc, out, err = t.run_tcplb(["-t", "-c", t.path("bad.yaml")])
    t.check(rc == 78 and "upgrade_timeout" in err and "unlimited" in err, "bad value: %r" % err)


run(test)
