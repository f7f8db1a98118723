"""Health of UDP servers.  Active: a check sends one datagram; an ICMP port
unreachable fails it, `expect` must start the reply, and without expect
silence passes.  Passive: flows refused by ICMP mark a server down
(max_fails) and new flows go elsewhere."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from udplib import *


def servers(sock):
    return {s["server"]: s for s in admin_json(sock, "show servers")["servers"]}


def test(t):
    good = t.add_closer(UdpBackend("good"))
    wrong = t.add_closer(UdpBackend("wrong"))
    silent = t.add_closer(UdpBackend("silent", mode="silent"))
    dead = free_udp_port()      # nothing listens: ICMP port unreachable
    sock = t.path("admin.sock")
    p1, p2, p3 = free_udp_port(), free_udp_port(), free_udp_port()
    cfg = """\
global:
  admin_socket: %s
listeners:
  a:
    bind: 127.0.0.1:%d
    protocol: udp
    pool: expecting
  b:
    bind: 127.0.0.1:%d
    protocol: udp
    pool: plain
  c:
    bind: 127.0.0.1:%d
    protocol: udp
    pool: passive
pools:
  expecting:
    health_check: { interval: 200ms, timeout: 300ms, rise: 1, fall: 1, send: "ping", expect: "good|ping" }
    servers:
      - { address: %s, name: good }
      - { address: %s, name: wrong }
      - { address: 127.0.0.1:%d, name: dead }
  plain:
    health_check: { interval: 200ms, timeout: 300ms, rise: 1, fall: 1 }
    servers:
      - { address: %s, name: silent }
      - { address: 127.0.0.1:%d, name: dead2 }
  passive:
    max_fails: 2
    fail_timeout: 30s
    servers:
      - { address: 127.0.0.1:%d, name: dead3 }
      - { address: %s, name: good3 }
""" % (sock, p1, p2, p3, good.hostport, wrong.hostport, dead, silent.hostport, dead,
       dead, good.hostport)
    p = t.start_config(cfg)

    def states():
        s = servers(sock)
        return {k: v["health"] for k, v in s.items()}

    want = {"good": "up", "wrong": "down", "dead": "down", "silent": "up", "dead2": "down"}
    ok = wait_until(lambda: all(states().get(k) == v for k, v in want.items()), 5)
    s = servers(sock)
    t.log({k: (v["health"], (v.get("last_check") or {}).get("result")) for k, v in s.items()})
    t.check(ok, "health states: %r" % states())
    t.check("unreachable" in s["dead"]["last_check"]["result"], "ICMP named: %r" % s["dead"]["last_check"]["result"])
    t.eq(s["wrong"]["last_check"]["result"], "bad reply")
    # traffic of the checked pool goes to the one server up
    for i in range(4):
        c = UdpClient(("127.0.0.1", p1))
        r, _ = c.ask(b"q")
        t.check(r is not None and r.startswith(b"good|"), "flow %d: %r" % (i, r))
        c.close()

    # passive: flows to dead3 are refused by ICMP; after max_fails the
    # server is down and every new flow goes to good3
    answered = 0
    for i in range(10):
        c = UdpClient(("127.0.0.1", p3), timeout=0.3)
        r, _ = c.ask(b"q")
        answered += r is not None
        c.close()
    s = servers(sock)
    t.log("passive: %d of 10 answered; dead3 %s" % (answered, s["dead3"]["health"]))
    t.eq(s["dead3"]["health"], "down", "passive health of the refusing server")
    for i in range(4):
        c = UdpClient(("127.0.0.1", p3))
        r, _ = c.ask(b"q")
        t.check(r is not None and r.startswith(b"good|"), "after passive down, flow %d: %r" % (i, r))
        c.close()
    t.check(p.wait_stderr(r'listener=c .*server=dead3 .*end="server unreachable \(ICMP\)"', 2),
            "access log names the ICMP end")

    # a flow whose server goes down (its checks fail) moves: the
    # client's next datagram starts a flow on a server that is up
    c = UdpClient(("127.0.0.1", p1))
    r, _ = c.ask(b"before")
    t.check(r.startswith(b"good|"), "before: %r" % r)
    t.log("reloading with a second good server, then breaking the first")
    other = t.add_closer(UdpBackend("good"))
    other.keep_payloads = True
    # (same name in replies: expect "good|ping" passes for both)
    t.reload(p, cfg.replace("      - { address: %s, name: wrong }" % wrong.hostport,
                            "      - { address: %s, name: good2 }" % other.hostport))
    t.check(wait_until(lambda: servers(sock)["good2"]["health"] == "up", 5), "good2 up")
    good.close()                 # now ICMP port unreachable for checks
    t.check(wait_until(lambda: servers(sock)["good"]["health"] == "down", 5), "good not down")
    r, _ = c.ask(b"after")
    t.check(r is not None and r.startswith(b"good|after"), "after the server went down: %r" % r)
    t.check(b"after" in other.payloads, "the flow did not move to good2")
    t.check(p.wait_stderr(r'server=good .*end="(server down|server unreachable \(ICMP\))"', 2),
            "the old flow's end is logged")
    c.close()


if __name__ == "__main__":
    run(test, timeout=40)
