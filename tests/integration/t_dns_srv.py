"""SRV discovery with a real name server (dnsmasq): a { srv: NAME } entry
becomes the SRV targets with their ports and weights, the lowest priority
primary and the rest backup; changes in the records are followed every
resolve_interval (sessions on a removed target continue); a name server
that goes away keeps the last good targets; an SRV name that does not
resolve at load is a configuration error naming it."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from dnsd import Dnsmasq

CFG = """\
global:
  workers: 2
  resolvers: ["%s"]
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    resolve_interval: 200ms
    servers:
      - { srv: "%s", name: app }
  twice:
    resolve_interval: 200ms
    servers:
      - { srv: "_app._tcp.test", name: one }
      - { srv: "_app._tcp.test", name: two }
"""


def test(t):
    a = t.identify_backend("A", host="127.0.0.2")
    b = t.identify_backend("B", host="127.0.0.3")
    hosts = "127.0.0.2 t1.test\n127.0.0.3 t2.test\n"
    dns = Dnsmasq(t, hosts=hosts, srv=[
        "_app._tcp.test,t1.test,%d,10,1" % a.port,
        "_app._tcp.test,t2.test,%d,20,1" % b.port])
    port = free_port()
    addr = ("127.0.0.1", port)

    # load time: an SRV name without records is an error naming it
    cfg = t.write("bad.yaml", CFG % (dns.server, port, "_none._tcp.test"))
    rc, out, err = t.run_tcplb(["-t", "-c", cfg])
    t.eq(rc, 78, "--check with an SRV name that does not resolve")
    t.check(re.search(r"bad\.yaml:\d+:\d+: pools\.p\.servers\[0\]\.srv: cannot resolve SRV '_none\._tcp\.test': no such name", err),
            "error does not name the SRV entry: %r" % err)

    lb = t.start_config(CFG % (dns.server, port, "_app._tcp.test"))
    # priority 20 is backup: unused while the priority 10 target is up
    got = [t.identify(addr) for _ in range(6)]
    t.eq(got, ["A"] * 6, "primary target only")
    # a reload hands the resolver's per-name status on, one heir each
    # (pool "twice" names the same SRV name twice)
    t.reload(lb)
    t.eq(t.identify(addr), "A", "after a reload")

    # same priority, weights 1 and 3
    dns.restart(srv=["_app._tcp.test,t1.test,%d,10,1" % a.port,
                     "_app._tcp.test,t2.test,%d,10,3" % b.port])
    t.check(wait_until(lambda: t.identify(addr) == "B", 5, 0.02), "B never joined")
    got = [t.identify(addr) for _ in range(8)]
    t.eq(sorted(got), ["A"] * 2 + ["B"] * 6, "weights 1:3 from the SRV records")

    # t1 leaves the records: its session continues, new ones go to B
    held = None
    for _ in range(8):
        s, n = t.hold(addr)
        if n == "A":
            held = s
            break
        s.close()
    t.check(held is not None, "no session landed on A")
    dns.restart(srv=["_app._tcp.test,t2.test,%d,10,3" % b.port])
    t.check(wait_until(lambda: all(t.identify(addr) == "B" for _ in range(4)), 5, 0.02),
            "A still receives connections after leaving the SRV records")
    t.check(t.echo_ok(held, b"draining"), "session on the removed target broken")
    t.check(lb.wait_stderr(r"pool p: SRV '_app\._tcp\.test' changed: -127\.0\.0\.2:%d" % a.port, 2),
            "removal not logged")

    # the name server goes away: the last good target keeps serving
    dns.stop()
    t.check(lb.wait_stderr(r"pool p: cannot resolve SRV '_app\._tcp\.test': .*; keeping its 1 address in service", 8),
            "failure not logged")
    got = [t.identify(addr) for _ in range(5)]
    t.eq(got, ["B"] * 5, "after the name server stopped")
    held.close()


run(test)
