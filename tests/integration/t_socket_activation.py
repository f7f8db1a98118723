"""Socket activation: under systemd-socket-activate the passed socket serves
the listener whose bind matches it (the same socket, not a new bind); a
listener with no passed socket is bound as usual."""
import sys, os, shutil
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def test(t):
    sa = shutil.which("systemd-socket-activate")
    if not sa:
        raise Skip("systemd-socket-activate not installed")
    a = t.identify_backend("A")
    b = t.identify_backend("B")
    p_act, p_own = free_port(), free_port()
    cfg = t.write("tcplb.yaml", """\
listeners:
  activated:
    bind: 127.0.0.1:%d
    pool: pa
  own:
    bind: 127.0.0.1:%d
    pool: pb
pools:
  pa:
    servers: [%s]
  pb:
    servers: [%s]
""" % (p_act, p_own, a.hostport, b.hostport))
    n = t.notify_receiver()
    lb = t.start(["-l", "127.0.0.1:%d" % p_act, "-E", "NOTIFY_SOCKET=" + n.path,
                  t.bin, "-c", cfg, "--log-target", "stderr"],
                 env={"SYSTEMD_LOG_LEVEL": "debug"}, name="activate", argv0=[sa])
    # systemd-socket-activate execs tcplb (same pid) on the first connection
    t.check(wait_until(lambda: listen_inodes(p_act), 5), "nothing listens on %d" % p_act)
    inodes = listen_inodes(p_act)
    t.log("socket-activate listens on %d: inodes %s" % (p_act, inodes))
    t0 = time.monotonic()
    name = t.identify(("127.0.0.1", p_act), timeout=5)
    t.log("first connection: %r after %.3fs" % (name, time.monotonic() - t0))
    t.eq(name, "A", "first connection (the one that triggered the start)")
    t.check(n.wait_for("READY=1", timeout=5), "no READY=1 under socket activation")
    exe = os.readlink("/proc/%d/exe" % lb.pid)
    t.log("pid %d is now %s" % (lb.pid, exe))
    t.check(os.path.basename(exe).startswith("tcplb"), "the activated process is %s, not tcplb" % exe)
    for i in range(5):
        t.eq(t.identify(("127.0.0.1", p_act)), "A", "activated listener #%d" % i)
        t.eq(t.identify(("127.0.0.1", p_own)), "B", "self-bound listener #%d" % i)
    t.eq(listen_inodes(p_act), inodes, "listening socket on the activated port "
         "(tcplb must use the passed socket, not bind its own)")
    lb.signal(signal.SIGTERM)
    t.eq(lb.wait(5), 0, "exit status")



run(test)
