"""A port another program serves with SO_REUSEPORT (a second tcplb, say):
tcplb's sockets set SO_REUSEPORT too, and the kernel would let it join the
stranger's group and take half its traffic.  Starting must fail with
"address in use" and exit 1 (config and quick mode), a reload that adds
such a listener fails and changes nothing, and a second tcplb on the first
one's port fails the same way."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def test(t):
    stranger = socket.socket()
    stranger.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    stranger.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    stranger.bind(("127.0.0.1", 0))
    stranger.listen(16)
    t.add_closer(stranger)
    port = stranger.getsockname()[1]
    a = t.identify_backend("A")

    cfg = t.write("taken.yaml", """\
listeners:
  taken: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    servers: ["%s"]
""" % (port, a.hostport))
    rc, out, err = t.run_tcplb(["-c", cfg, "--log-target", "stderr"], timeout=10)
    t.log("config mode: exit %s: %r" % (rc, err.strip()[-300:]))
    t.eq(rc, 1, "exit status on a stranger's SO_REUSEPORT port")
    t.check(re.search(r"127\.0\.0\.1:%d.*[Aa]ddress (already )?in use" % port, err),
            "message does not say 127.0.0.1:%d is in use" % port)
    rc, out, err = t.run_tcplb(["-l", "127.0.0.1:%d" % port, a.hostport], timeout=10)
    t.log("quick mode: exit %s: %r" % (rc, err.strip()[-300:]))
    t.eq(rc, 1, "quick mode exit status on a stranger's port")
    t.check("in use" in err, "quick mode message does not say 'in use'")

    # a running tcplb: a reload that would join the stranger's group fails
    own = free_port()
    good = """\
listeners:
  own: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    servers: ["%s"]
""" % (own, a.hostport)
    lb = t.start_config(good)
    bad = good.replace("listeners:\n", "listeners:\n  taken: {bind: \"127.0.0.1:%d\", pool: p}\n" % port)
    msgs = t.reload(lb, bad)
    t.check(any("STATUS=reload failed" in m for m in msgs),
            "a reload onto a stranger's port did not fail: %r" % msgs)
    t.eq(t.identify(("127.0.0.1", own)), "A", "still serving after the failed reload")
    # the stranger's queue got none of ours, and no tcplb socket is on its port
    stranger.settimeout(0.2)
    t.eq(len(listen_inodes(port)), 1, "sockets listening on the stranger's port")

    # a second tcplb on the first one's port
    rc, out, err = t.run_tcplb(["-l", "127.0.0.1:%d" % own, a.hostport], timeout=10)
    t.log("second tcplb: exit %s: %r" % (rc, err.strip()[-300:]))
    t.eq(rc, 1, "a second tcplb on a port the first serves")
    t.eq(t.identify(("127.0.0.1", own)), "A", "the first one serves on")


run(test)
