"""An ICMP "fragmentation needed" for a flow's server socket (a path with
a smaller MTU, or anyone who guesses the flow's addresses and ports) is
not the flow's end: the kernel lowers the path MTU and fragments what
follows.  Before, the error surfaced on the next read as EMSGSIZE and
ended the flow ("server socket error"), and the client's next datagram
started a new flow, possibly on another server."""
import sys, os, re, socket, struct, subprocess, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from udplib import *


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return (~s) & 0xffff


def frag_needed(raw, src, sport, dst, dport, mtu=1280):
    """ICMP 3/4 quoting a datagram src:sport -> dst:dport."""
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + 8 + 1400, 0, 0x4000, 64, 17, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    udp = struct.pack("!HHHH", sport, dport, 8 + 1400, 0)
    icmp = struct.pack("!BBHHH", 3, 4, 0, 0, mtu) + ip + udp
    icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
    raw.sendto(icmp, (src, 0))


class RouteCacheFlush:
    """Forget the path MTUs the test's ICMP lowered."""
    def close(self):
        subprocess.run(["ip", "route", "flush", "cache"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)


def test(t):
    try:
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    except PermissionError:
        raise Skip("no CAP_NET_RAW to send ICMP")
    need("ss", "ip")
    # Servers on addresses of their own: the kernel keeps the lowered
    # path MTU per destination for 10 minutes, and 127.0.0.1's is every
    # other test's on this machine (flushed again at the end).
    a = t.add_closer(UdpBackend("A", host="127.77.0.1"))
    b = t.add_closer(UdpBackend("B", host="127.77.0.2"))
    t.add_closer(RouteCacheFlush())
    port = free_udp_port()
    sock = t.path("admin.sock")
    cfg = """\
global:
  admin_socket: %s
listeners:
  u:
    bind: 127.0.0.1:%d
    protocol: udp
    pool: p
pools:
  p:
    servers: [%s, %s]
""" % (sock, port, a.hostport, b.hostport)
    p = t.start_config(cfg, extra=["-w", "1"])
    c = UdpClient(("127.0.0.1", port))
    r, _ = c.ask(b"one")
    t.check(r is not None, "no first reply")
    srv = a if r.startswith(b"A|") else b
    flows = admin_json(sock, "show sessions")["sessions"]
    t.eq(len(flows), 1, "one flow")
    fid = flows[0]["id"]
    out = subprocess.run(["ss", "-Hun", "dst", srv.hostport], stdout=subprocess.PIPE).stdout.decode()
    locs = [ln.split()[-2] for ln in out.splitlines() if ln.strip()]
    t.eq(len(locs), 1, "one socket toward %s: %r" % (srv.hostport, out))
    lh, lp = locs[0].rsplit(":", 1)
    for _ in range(3):
        sh, sp = srv.hostport.rsplit(":", 1)
        frag_needed(raw, lh, int(lp), sh, int(sp))
        time.sleep(0.1)
    raw.close()
    for k in range(3):
        # larger than the MTU the ICMP announced: fragmented, not dropped
        q = b"after%d" % k + b"x" * 1500
        r, _ = c.ask(q)
        t.eq(r, srv.name.encode() + b"|" + q[:64], "reply %d after the ICMP, from the flow's server" % k)
    t.check(not re.search(r'end="server socket error"', p.stderr()), "an ICMP frag-needed ended the flow")
    flows = admin_json(sock, "show sessions")["sessions"]
    t.eq([f["id"] for f in flows], [fid], "the flow lives on")
    l = admin_json(sock, "show listeners")["listeners"][0]
    t.eq(l["dropped"]["too_big"], 0, "datagrams dropped as too_big")
    c.close()


if __name__ == "__main__":
    run(test, timeout=30)
