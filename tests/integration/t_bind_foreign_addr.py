"""A stranger listening with SO_REUSEPORT on another loopback address of a
port tcplb already binds (127.0.0.2:P beside tcplb's 127.0.0.1:P): the
probe for a stranger must not be skipped just because tcplb has the same
port on a different address.  Starting fails with "address in use" and
exit 1, and a reload that adds the stranger's address fails and changes
nothing; no tcplb socket joins the stranger's group."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def test(t):
    stranger = socket.socket()
    stranger.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    stranger.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    stranger.bind(("127.0.0.2", 0))
    stranger.listen(16)
    t.add_closer(stranger)
    port = stranger.getsockname()[1]
    a = t.identify_backend("A")

    # at start: our own 127.0.0.1:P is bound first, then 127.0.0.2:P
    cfg = t.write("both.yaml", """\
listeners:
  mine: {bind: "127.0.0.1:%d", pool: p}
  taken: {bind: "127.0.0.2:%d", pool: p}
pools:
  p:
    servers: ["%s"]
""" % (port, port, a.hostport))
    rc, out, err = t.run_tcplb(["-c", cfg, "--log-target", "stderr", "-w", "2"],
                               timeout=10)
    t.log("start: exit %s: %r" % (rc, err.strip()[-300:]))
    t.eq(rc, 1, "exit status with a stranger on 127.0.0.2:%d" % port)
    t.check(re.search(r"127\.0\.0\.2:%d.*[Aa]ddress (already )?in use" % port, err),
            "message does not say 127.0.0.2:%d is in use" % port)

    # a running tcplb on 127.0.0.1:P: a reload adding 127.0.0.2:P fails
    good = """\
listeners:
  mine: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    servers: ["%s"]
""" % (port, a.hostport)
    lb = t.start_config(good)
    bad = good.replace("listeners:\n",
                       "listeners:\n  taken: {bind: \"127.0.0.2:%d\", pool: p}\n" % port)
    msgs = t.reload(lb, bad)
    t.check(any("STATUS=reload failed" in m for m in msgs),
            "a reload onto a stranger's address did not fail: %r" % msgs)
    t.eq(t.identify(("127.0.0.1", port)), "A", "still serving after the failed reload")
    # only the stranger's socket listens on 127.0.0.2:P
    out = subprocess.run(["ss", "-Hltn", "src", "127.0.0.2:%d" % port],
                         capture_output=True, text=True).stdout
    t.eq(len([l for l in out.splitlines() if l.strip()]), 1,
         "sockets listening on 127.0.0.2:%d: %r" % (port, out))


run(test)
