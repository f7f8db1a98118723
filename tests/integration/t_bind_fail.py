"""A listener that cannot bind at start: exit 1 (not 78), the message names
the address; in quick mode too."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def test(t):
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    t.add_closer(blocker)
    port = blocker.getsockname()[1]
    a = t.backend("echo")
    p_ok = free_port()
    cfg = t.write("tcplb.yaml", """\
listeners:
  fine: {bind: "127.0.0.1:%d", pool: p}
  taken: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    servers: ["%s"]
""" % (p_ok, port, a.hostport))
    rc, out, err = t.run_tcplb(["-c", cfg, "--log-target", "stderr"], timeout=10)
    t.log("config mode: exit %s: %r" % (rc, err.strip()[-300:]))
    t.eq(rc, 1, "exit status when a listener cannot bind")
    t.check("127.0.0.1:%d" % port in err, "message does not name 127.0.0.1:%d" % port)
    # -t does not bind: the file itself is valid
    rc, out, err = t.run_tcplb(["-t", "-c", cfg], timeout=10)
    t.log("-t: exit %s" % rc)
    t.eq(rc, 0, "exit status of -t for a valid file whose port is taken")

    rc, out, err = t.run_tcplb(["-l", "127.0.0.1:%d" % port, a.hostport], timeout=10)
    t.log("quick mode: exit %s: %r" % (rc, err.strip()[-300:]))
    t.eq(rc, 1, "quick mode exit status when -l cannot bind")
    t.check("127.0.0.1:%d" % port in err, "message does not name 127.0.0.1:%d" % port)
    t.check("listening on" not in out, "printed 'listening on' although bind failed")


run(test)
