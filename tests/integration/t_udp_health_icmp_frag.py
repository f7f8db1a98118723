"""A UDP health check and an ICMP "fragmentation needed" quoting its
socket (its datagram is small: a stale or spoofed error): the check goes
on waiting for the reply and passes.  Before, the pending EMSGSIZE
failed the check ("Message too long") and, with fall: 1, took the
server down."""
import sys, os, re, socket, subprocess, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from udplib import *
from t_udp_icmp_frag import frag_needed, RouteCacheFlush


def test(t):
    try:
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    except PermissionError:
        raise Skip("no CAP_NET_RAW to send ICMP")
    need("ss", "ip")
    # own address: the lowered path MTU stays with it (flushed at the end)
    a = t.add_closer(UdpBackend("A", host="127.77.0.3", mode="slow", delay=1.0))
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
    health_check: { interval: 300ms, timeout: 3s, rise: 1, fall: 1, send: "ping", expect: "A|ping" }
    servers: [%s]
""" % (sock, port, a.hostport)
    p = t.start_config(cfg)
    sh, sp = a.hostport.rsplit(":", 1)
    sent = 0
    deadline = time.monotonic() + 6
    while sent < 3 and time.monotonic() < deadline:
        out = subprocess.run(["ss", "-Hun", "dst", a.hostport], stdout=subprocess.PIPE).stdout.decode()
        locs = [ln.split()[-2] for ln in out.splitlines() if ln.strip()]
        if locs:
            lh, lp = locs[0].rsplit(":", 1)
            frag_needed(raw, lh, int(lp), sh, int(sp))
            sent += 1
            time.sleep(1.2)   # the next check's socket
        else:
            time.sleep(0.05)
    raw.close()
    t.check(sent >= 1, "no check socket seen")
    time.sleep(1.5)
    t.check(not re.search(r"Message too long|too long", p.stderr()),
            "a check failed on the ICMP: %s" % "\n".join(
                l for l in p.stderr().splitlines() if "too long" in l)[:500])
    srv = admin_json(sock, "show servers")["servers"][0]
    t.eq(srv["health"], "up", "the server's health")
    t.eq(srv["last_check"]["result"], "ok", "the last check")


if __name__ == "__main__":
    run(test, timeout=40)
