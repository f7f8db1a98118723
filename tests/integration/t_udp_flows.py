"""UDP flows: quick mode --udp balances clients (flows) round robin and
keeps each flow on its server; a 65,507-byte datagram goes through whole
both ways; `responses: 1` ends a flow after one reply; idle_timeout ends
a silent flow and the descriptor count comes back to the baseline; every
flow writes an access-log record with its datagram counts; flows show in
`show sessions`, `show listeners` and /metrics."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from udplib import *


def quick_part(t):
    a = t.add_closer(UdpBackend("A"))
    b = t.add_closer(UdpBackend("B"))
    p = t.start_quick([a.hostport, b.hostport], extra=["--udp", "-w", "2"])
    target = ("127.0.0.1", p.addr[1])
    seen = []
    for i in range(6):
        c = UdpClient(target)
        names = set()
        for k in range(5):
            r, frm = c.ask(b"hello %d" % k)
            t.check(r is not None, "client %d datagram %d: no reply" % (i, k))
            t.eq(frm[:2], target, "reply source")
            name, _, echo = r.partition(b"|")
            t.eq(echo, b"hello %d" % k, "payload relayed")
            names.add(name)
        t.eq(len(names), 1, "client %d: one flow, one server (%r)" % (i, names))
        seen.append(names.pop())
        c.close()
    t.log("servers by client:", seen)
    t.eq(seen.count(b"A"), 3, "round robin over flows")
    # each flow is one peer (one upstream socket) at its backend
    t.eq(len(a.stats()["peers"]) + len(b.stats()["peers"]), 6, "one upstream socket per flow")
    p.stop()


def config_part(t):
    big = t.add_closer(UdpBackend("E", mode="echo"))
    multi = t.add_closer(UdpBackend("M", mode="multi", count=3))
    silent = t.add_closer(UdpBackend("S", mode="silent"))
    ports = [free_udp_port() for _ in range(3)]
    sock = t.path("admin.sock")
    mport = free_port()
    cfg = """\
global:
  admin_socket: %s
  metrics: 127.0.0.1:%d
listeners:
  echo:
    bind: 127.0.0.1:%d
    protocol: udp
    pool: echo
  dns:
    bind: 127.0.0.1:%d
    protocol: udp
    pool: one
  quiet:
    bind: 127.0.0.1:%d
    protocol: udp
    pool: quiet
pools:
  echo:
    servers: [%s]
  one:
    responses: 1
    servers: [%s]
  quiet:
    idle_timeout: 1s
    servers: [%s]
""" % (sock, mport, ports[0], ports[1], ports[2], big.hostport, multi.hostport,
       silent.hostport)
    p = t.start_config(cfg, extra=["-w", "2"])

    # 65,507 bytes (the IPv4 maximum) through and back, whole
    c = UdpClient(("127.0.0.1", ports[0]))
    payload = bytes(range(256)) * 255 + b"x" * (65507 - 256 * 255)
    r, _ = c.ask(payload)
    t.check(r is not None, "no reply to a 65,507-byte datagram")
    t.eq(len(r), 65507, "size of the big reply")
    t.check(r == payload, "big datagram changed on the way")
    t.eq(big.stats()["biggest"], 65507, "backend got the big datagram whole")
    # ...and a burst of 1,400-byte datagrams on the same flow: all relayed
    # (in rounds of 50: the client's own receive buffer is the limit)
    got = set()
    for r0 in range(0, 200, 50):
        for i in range(r0, r0 + 50):
            c.send(b"%05d" % i + b"y" * 1395)
        while len(got) < r0 + 50:
            d, _ = c.recv(2.0)
            if d is None:
                break
            got.add(int(d[:5]))
    t.eq(len(got), 200, "burst of 200 datagrams on one flow")

    # show sessions: the echo flow, as udp with datagram counts
    js = admin_json(sock, "show sessions")
    flows = [s for s in js["sessions"] if s.get("protocol") == "udp"]
    t.eq(len(flows), 1, "one flow in show sessions")
    t.eq(flows[0]["listener"], "echo")
    t.eq(flows[0]["datagrams_in"], 201)
    t.eq(flows[0]["datagrams_out"], 201)
    text = admin_send(sock, "show sessions")
    t.check(" udp 201 201" in text, "show sessions text: %r" % text)

    # responses: 1 -- the multi backend sends 3, the client gets 1, and
    # the flow is over (the next datagram starts a new flow)
    c2 = UdpClient(("127.0.0.1", ports[1]))
    r, _ = c2.ask(b"q1")
    t.eq(r, b"M|0", "first reply")
    d, _ = c2.recv(0.5)
    t.eq(d, None, "replies after `responses: 1` are not relayed")
    r, _ = c2.ask(b"q2")
    t.eq(r, b"M|0", "a new flow after responses")
    t.check(p.wait_stderr(r'listener=dns .* end="responses" protocol=udp datagrams_in=1 datagrams_out=1', 3),
            "access log of the flow ended by responses")

    # idle_timeout 1s: the silent server's flow ends after 1-2.5 s, and
    # the descriptor count comes back to where it was
    base = p.fd_count()
    clients = [UdpClient(("127.0.0.1", ports[2])) for _ in range(50)]
    for cl in clients:
        cl.send(b"anyone?")
    t.check(wait_until(lambda: silent.stats()["received"] == 50, 3), "50 datagrams at the silent server")
    t.check(wait_until(lambda: p.fd_count() >= base + 50, 2), "50 flows hold 50 sockets")
    t0 = time.monotonic()
    t.check(wait_until(lambda: p.fd_count() == base, 4), "descriptors back to %d (now %d)" % (base, p.fd_count()))
    dt = time.monotonic() - t0
    t.log("50 idle flows ended; fds back to baseline after %.2fs more" % dt)
    t.check(p.wait_stderr(r'listener=quiet .* end="idle timeout" protocol=udp datagrams_in=1 datagrams_out=0', 2),
            "access log of an idle flow")
    for cl in clients:
        cl.close()

    # show listeners / metrics
    jl = admin_json(sock, "show listeners")
    by = {l["name"]: l for l in jl["listeners"]}
    t.eq(by["echo"]["protocol"], "udp")
    t.eq(by["echo"]["datagrams_in"], 201)
    t.eq(by["quiet"]["total"], 50, "flows started on quiet")
    t.eq(by["quiet"]["active"], 0, "no flow left on quiet")
    st, _, body = http_get(("127.0.0.1", mport), "/metrics")
    body = body.decode() if isinstance(body, bytes) else body
    t.check('tcplb_listener_datagrams_in_total{listener="echo"} 201' in body, "datagrams in metric: %s" % [l for l in body.split("\n") if "datagram" in l])
    t.check('tcplb_listener_flows_total{listener="quiet"} 50' in body, "flows metric")
    t.check('tcplb_listener_datagrams_dropped_total{listener="echo",reason="too_big"} 0' in body,
            "drops metric")
    import shutil, subprocess
    promtool = shutil.which("promtool")
    if promtool:
        r = subprocess.run([promtool, "check", "metrics"], input=body.encode(),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
        t.check(r.returncode == 0, "promtool check metrics: %s" % r.stdout.decode()[-2000:])
    # shutdown sessions server: the echo flow ends at once
    text = admin_send(sock, "shutdown sessions server echo/%s" % big.hostport)
    t.check(p.wait_stderr(r'listener=echo .* end="shut down by admin" protocol=udp', 3),
            "flow not ended by `shutdown sessions server`: %r" % text)
    t.check(wait_until(lambda: admin_json(sock, "show listeners")["listeners"][0]["active"] == 0, 2),
            "echo flow still open")
    c.close()
    c2.close()


def test(t):
    quick_part(t)
    config_part(t)


if __name__ == "__main__":
    run(test, timeout=60)
