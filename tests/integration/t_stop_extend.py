"""A stop never lets the unit's TimeoutStopSec= cut a drain that
shutdown_timeout allows: STOPPING=1 carries EXTEND_TIMEOUT_USEC= of
shutdown_timeout + 15s, and the process really drains that long."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def test(t):
    a = t.identify_backend("A")
    port = free_port()
    lb = t.start_config("""\
global:
  shutdown_timeout: 100s
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p: {servers: ["%s"]}
""" % (port, a.hostport))
    s, name = t.hold(("127.0.0.1", port))
    t.eq(name, "A", "held session")
    start = t.notify.count()
    lb.signal(signal.SIGTERM)
    r = t.notify.wait_for("STOPPING=1", start=start, timeout=5)
    t.check(r, "no STOPPING=1 after SIGTERM")
    ext = [l for l in r[1].split("\n") if l.startswith("EXTEND_TIMEOUT_USEC=")]
    t.eq(ext, ["EXTEND_TIMEOUT_USEC=115000000"], "stop timeout extension for shutdown_timeout 100s")
    time.sleep(1.0)
    t.check(lb.alive(), "exited with a session open before shutdown_timeout")
    t.check(t.echo_ok(s), "the open session still works while draining")
    s.close()
    t.eq(lb.wait(5), 0, "exit once the last session ended")


run(test)
