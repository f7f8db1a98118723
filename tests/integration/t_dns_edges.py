"""DNS answers that must not disturb what runs (issue 22, items 3-6, 11),
against a scripted name server (scriptdns.py):
- a lookup where AAAA fails (SERVFAIL, or no answer) while A answers is a
  failure: the IPv6 servers stay (item 4);
- an SRV target that is NXDOMAIN for a while is the documented "no such
  name" failure: the target stays (item 6);
- more addresses than resolve_max_addresses: the same ones are kept
  whatever the answer's order (no churn), primaries first, with one
  warning (item 5);
- a new answer that cannot be applied (here: an address that is one of
  tcplb's own listeners, item 11) keeps that name's addresses, is logged
  once, and does not block another pool's change (item 3)."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from scriptdns import ScriptDns


def count(lb, pattern):
    return len(re.findall(pattern, lb.stderr(), re.M))


def test(t):
    dns = ScriptDns()
    t.add_closer(dns)
    six = have_ipv6()
    a = t.identify_backend("A", host="127.0.0.2")
    b1 = t.identify_backend("B1", host="127.0.0.3")
    b2 = t.identify_backend("B2", host="127.0.0.4", port=b1.port)
    lport, bport, port_many, port_srv, fport = (free_port() for _ in range(5))
    dns.set("app.test", "A", ["127.0.0.2"])
    dns.set("app.test", "AAAA", ["::1"] if six else "NXDOMAIN")
    dns.set("b.test", "A", ["127.0.0.3"])
    dns.set("fam.test", "A", ["127.0.0.2"])
    dns.set("fam.test", "AAAA", [])
    dns.set("many.test", "A", ["127.0.%d.%d" % (10 + i // 200, 1 + i % 200) for i in range(300)])
    dns.set("many.test", "AAAA", [])
    dns.set("_s._tcp.test", "SRV", [(0, 10, 9000, "p.test"), (0, 10, 9000, "q.test"),
                                     (5, 10, 9000, "bk.test")])
    dns.set("p.test", "A", ["127.0.1.%d" % i for i in range(1, 7)])
    dns.set("q.test", "A", ["127.0.2.%d" % i for i in range(1, 7)])
    dns.set("bk.test", "A", ["127.0.3.%d" % i for i in range(1, 7)])
    for n in ("p.test", "q.test", "bk.test", "b.test"):
        dns.set(n, "AAAA", [])
    lb = t.start_config("""\
global:
  resolvers: ["%s"]
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
  bee: {bind: "127.0.0.1:%d", pool: b}
  many: {bind: "127.0.0.1:%d", pool: m}
  srv: {bind: "127.0.0.1:%d", pool: s}
  trap: {bind: "127.0.0.5:%d", pool: b}
  fam: {bind: "127.0.0.1:%d", pool: f}
pools:
  f:
    resolve_interval: 100ms
    source: 127.0.0.1
    servers:
      - {address: "fam.test:%d", name: fam}
  p:
    resolve_interval: 100ms
    servers:
      - {address: "app.test:%d", name: app}
  b:
    resolve_interval: 100ms
    servers:
      - {address: "b.test:%d", name: bee}
  m:
    resolve_interval: 100ms
    resolve_max_addresses: 50
    servers:
      - {address: "many.test:80", name: many}
  s:
    resolve_interval: 100ms
    resolve_max_addresses: 10
    servers:
      - {srv: "_s._tcp.test", name: s}
""" % (dns.server, lport, bport, port_many, port_srv, a.port, fport, a.port, a.port, b1.port),
        extra=["-v"])

    # item 5: capped at load, deterministically; the same at re-resolution
    t.check(lb.wait_stderr(r"pool m: 'many\.test' has 300 addresses; using 50", 3),
            "no warning when resolve_max_addresses bites at load")
    t.check(lb.wait_stderr(r"pool s: SRV '_s\._tcp\.test' has 18 addresses; using 10", 3),
            "no warning for the SRV cap")
    # rotate the answer: nothing may change
    for r in range(1, 6):
        v = ["127.0.%d.%d" % (10 + i // 200, 1 + i % 200) for i in range(300)]
        dns.set("many.test", "A", v[r * 37:] + v[:r * 37])
        time.sleep(0.15)
    time.sleep(0.3)
    t.eq(count(lb, r"pool m: 'many\.test' changed"), 0, "a rotated answer changed the pool")
    t.eq(count(lb, r"pool s: SRV '_s\._tcp\.test' changed"), 0, "SRV pool changed")

    # item 4: AAAA fails while A answers: a failure, the IPv6 server stays
    if six:
        for how in ("SERVFAIL", "DROP"):
            dns.set("app.test", "AAAA", how)
            t.check(lb.wait_stderr(r"pool p: cannot resolve 'app\.test': AAAA: ", 8),
                    "AAAA %s not seen as a failure" % how)
            time.sleep(0.5)
            t.eq(count(lb, r"pool p: 'app\.test' changed"), 0,
                 "AAAA %s changed the pool (drained the IPv6 server)" % how)
            dns.set("app.test", "AAAA", ["::1"])
            t.check(lb.wait_stderr(r"pool p: 'app\.test' resolves again", 8), "no recovery")
    else:
        t.log("no IPv6: item 4 checked with A only")

    # item 6: an SRV target NXDOMAIN for a while: the documented failure
    dns.set("q.test", "A", "NXDOMAIN")
    dns.set("q.test", "AAAA", "NXDOMAIN")
    t.check(lb.wait_stderr(r"cannot resolve SRV '_s\._tcp\.test': SRV target 'q\.test': no such name", 5),
            "SRV target NXDOMAIN not a failure")
    time.sleep(0.4)
    t.eq(count(lb, r"pool s: SRV '_s\._tcp\.test' changed"), 0, "the NXDOMAIN target was drained")
    dns.set("q.test", "A", ["127.0.2.%d" % i for i in range(1, 7)])
    dns.set("q.test", "AAAA", [])

    # item 3: fam.test now has only an IPv6 address, which pool f (source
    # 127.0.0.1) cannot use: refused, logged once, and pool b's change
    # still applies
    t.eq(t.identify(("127.0.0.1", fport)), "A", "pool f before")
    t.eq(t.identify(("127.0.0.1", bport)), "B1", "pool b before")
    dns.set("fam.test", "AAAA", ["::1"])
    dns.set("fam.test", "A", [])
    t.check(lb.wait_stderr(r"pool f: cannot use the new addresses of 'fam\.test': .*"
                           r"has no IPv4 address", 5),
            "an answer the pool cannot use was not refused on its own")
    dns.set("b.test", "A", ["127.0.0.4"])
    t.check(wait_until(lambda: t.identify(("127.0.0.1", bport)) == "B2", 5, 0.05),
            "pool b's change was blocked by pool f's")
    t.eq(t.identify(("127.0.0.1", fport)), "A", "pool f kept its address")

    # item 11: app.test now names tcplb's own listener: refused, logged
    # once; pool b's change still applies
    dns.set("app.test", "A", ["127.0.0.5"])        # the listener 'trap'
    dns.set("app.test", "AAAA", [])
    t.check(lb.wait_stderr(r"pool p: cannot use the new addresses of 'app\.test': .*"
                           r"tcplb's own listener 'trap'", 5),
            "a server address equal to a listener was not refused")
    dns.set("b.test", "A", ["127.0.0.3"])
    t.check(wait_until(lambda: t.identify(("127.0.0.1", bport)) == "B1", 5, 0.05),
            "pool b's change was blocked by pool p's")
    time.sleep(0.5)
    t.eq(count(lb, r"cannot use the new addresses of 'app\.test'"), 1,
         "the refusal is logged once, not every interval")
    t.eq(count(lb, r"cannot use the new addresses of 'fam\.test'"), 1,
         "the refusal is logged once, not every interval (fam.test)")
    t.eq(count(lb, r"pool p: 'app\.test' changed: \+127\.0\.0\.5"), 1,
         "'changed' repeated every interval")
    t.check("cannot apply a DNS change" not in lb.stderr(),
            "the refused entry failed the whole DNS change")
    t.eq(t.identify(("127.0.0.1", lport)), "A", "pool p kept its addresses")
    t.check(lb.alive(), "tcplb died")


run(test, timeout=60)
