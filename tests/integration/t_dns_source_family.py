"""A pool whose servers connect from an IPv4 source uses only IPv4
addresses, so AAAA failing (SERVFAIL, or dropped by a broken middlebox)
must not fail its lookups: before, every re-resolution was "a failure"
(issue 22's whole-answer rule) and the pool kept a stale A address for as
long as AAAA failed, and a reload could not resolve the name at all.  A
pool without a source still needs both answers whole."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from scriptdns import ScriptDns


def test(t):
    dns = ScriptDns()
    t.add_closer(dns)
    a = t.identify_backend("A", host="127.0.0.2")
    b = t.identify_backend("B", host="127.0.0.3", port=a.port)
    for n in ("v4.test", "any.test"):
        dns.set(n, "A", ["127.0.0.2"])
        dns.set(n, "AAAA", [])
    p4, pany = free_port(), free_port()
    cfg = """\
global:
  resolvers: ["127.0.0.1:%d"]
listeners:
  four: {bind: "127.0.0.1:%d", pool: four}
  any: {bind: "127.0.0.1:%d", pool: any}
pools:
  four:
    source: 127.0.0.1
    resolve_interval: 100ms
    servers: ["v4.test:%d"]
  any:
    resolve_interval: 100ms
    servers: ["any.test:%d"]
""" % (dns.port, p4, pany, a.port, a.port)
    lb = t.start_config(cfg)
    t.eq(t.identify(("127.0.0.1", p4)), "A", "IPv4 pool at start")
    t.eq(t.identify(("127.0.0.1", pany)), "A", "pool without source at start")
    for n in ("v4.test", "any.test"):
        dns.set(n, "AAAA", "SERVFAIL")
        dns.set(n, "A", ["127.0.0.3"])
    t.check(wait_until(lambda: t.identify(("127.0.0.1", p4)) == "B", 5, 0.1),
            "the IPv4 pool did not follow its A record while AAAA fails")
    t.check(lb.wait_stderr(r"pool any: cannot resolve 'any\.test': AAAA", 5),
            "a pool without source: AAAA failing is still a failure")
    t.eq(t.identify(("127.0.0.1", pany)), "A", "the pool without source kept its address")
    t.check("cannot resolve 'v4.test'" not in lb.stderr(),
            "AAAA's failure was logged against the IPv4 pool")
    # a reload resolves every name itself: the IPv4 pool's with AAAA
    # still failing (the other pool's name answers whole again)
    dns.set("any.test", "AAAA", [])
    lb.signal(signal.SIGHUP)
    t.check(lb.wait_stderr(r"configuration reloaded|reload failed", 10), "no reload outcome")
    t.check("reload failed" not in lb.stderr(), "the reload failed on AAAA")
    t.eq(t.identify(("127.0.0.1", p4)), "B", "the IPv4 pool after the reload")
    t.check(lb.alive(), "tcplb died")


run(test, timeout=60)
