"""UDP socket activation: systemd-socket-activate --datagram passes a UDP
socket; tcplb's UDP listener on that address uses it (the first datagram,
which started tcplb, is answered too), and the reply source is right on a
socket tcplb did not create (IP_PKTINFO is turned on for it).  With 3
workers, the one passed socket is read by one of them only: a client's
datagrams stay one flow."""
import sys, os, shutil
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from udplib import *


def udp_inodes(port):
    out = set()
    with open("/proc/net/udp") as f:
        for ln in f.readlines()[1:]:
            parts = ln.split()
            if int(parts[1].split(":")[1], 16) == port:
                out.add(parts[9])
    return out


def test(t):
    sa = shutil.which("systemd-socket-activate")
    if not sa:
        raise Skip("systemd-socket-activate not installed")
    a = t.add_closer(UdpBackend("A"))
    port = free_udp_port("0.0.0.0")
    cfg = t.write("tcplb.yaml", """\
listeners:
  u:
    bind: 0.0.0.0:%d
    protocol: udp
    pool: p
pools:
  p:
    servers: [%s]
""" % (port, a.hostport))
    n = t.notify_receiver()
    lb = t.start(["--datagram", "-l", "0.0.0.0:%d" % port, "-E", "NOTIFY_SOCKET=" + n.path,
                  t.bin, "-c", cfg, "--log-target", "stderr", "-w", "3"],
                 name="activate", argv0=[sa])
    t.check(wait_until(lambda: udp_inodes(port), 5), "nothing bound on udp %d" % port)
    inodes = udp_inodes(port)
    c = UdpClient(("127.0.0.2", port), timeout=5)
    r, frm = c.ask(b"first")
    t.eq(r, b"A|first", "the datagram that started tcplb")
    t.eq(frm[0], "127.0.0.2", "reply source on the passed socket")
    t.check(n.wait_for("READY=1", timeout=5), "no READY=1")
    for i in range(3):
        r, frm = c.ask(b"n%d" % i)
        t.eq(r, b"A|n%d" % i)
        t.eq(frm[0], "127.0.0.2")
    t.eq(udp_inodes(port), inodes, "tcplb bound its own socket instead of the passed one")
    for i in range(30):
        t.check(c.ask(b"m%d" % i)[0] is not None, "datagram %d" % i)
    t.eq(len(a.stats()["peers"]), 1, "one flow (one upstream socket) for one client")
    c.close()
    lb.signal(signal.SIGTERM)
    t.eq(lb.wait(5), 0, "exit status")


run(test)
