"""Servers given by host name are re-resolved every resolve_interval with a
real name server (dnsmasq): a changed address takes over new connections
within an interval while sessions on the old one continue (drain); two
addresses make two servers; an unanswering or failing name server keeps the
last good addresses serving, is logged once, and never marks a server
down."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from dnsd import Dnsmasq


def served_by(t, addr):
    return t.identify(addr, timeout=3)


def test(t):
    a = t.identify_backend("A", host="127.0.0.2")
    b = t.identify_backend("B", host="127.0.0.3", port=a.port)
    dns = Dnsmasq(t, hosts="127.0.0.2 app.test\n")
    port = free_port()
    addr = ("127.0.0.1", port)
    lb = t.start_config("""\
global:
  workers: 2
  resolvers: ["%s"]
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    resolve_interval: 200ms
    servers:
      - {address: "app.test:%d", name: app}
""" % (dns.server, port, a.port))
    t.eq(served_by(t, addr), "A", "at load")
    held, n = t.hold(addr)
    t.eq(n, "A", "held session")

    # A -> B: new connections go to B within an interval (plus the
    # publication); the session on A keeps working.
    t0 = time.monotonic()
    dns.set_hosts("127.0.0.3 app.test\n")
    t.check(wait_until(lambda: served_by(t, addr) == "B", 5, 0.02), "never switched to B")
    took = time.monotonic() - t0
    t.log("DNS change took effect after %.3fs (resolve_interval 0.2s)" % took)
    t.check(took < 2.0, "switch took %.3fs" % took)
    t.check(t.echo_ok(held, b"still here"), "session on the removed address broken")
    for _ in range(10):
        t.eq(served_by(t, addr), "B", "after the change")
    # The log thread writes its records within ~20 ms: wait for them.
    m = lb.wait_stderr(r"^(\S+) .*pool p: 'app\.test' changed: \+127\.0\.0\.3:%d -127\.0\.0\.2:%d$"
                       % (a.port, a.port), timeout=2)
    t.check(m, "change not logged")
    m2 = lb.wait_stderr(r"^(\S+) .*generation \d+ published after a DNS change$", timeout=2)
    t.check(m2, "publication not logged")

    def stamp(x):
        hms = x.split("T")[1]
        h, mi, sec = hms.split(":")
        return int(h) * 3600 + int(mi) * 60 + float(sec)
    t.log("publication took %.1f ms after the answer" % ((stamp(m2.group(1)) - stamp(m.group(1))) * 1000))

    # two addresses: two servers
    dns.set_hosts("127.0.0.2 app.test\n127.0.0.3 app.test\n")
    t.check(wait_until(lambda: served_by(t, addr) == "A", 5, 0.02), "A not added back")
    seen = set(served_by(t, addr) for _ in range(8))
    t.eq(seen, {"A", "B"}, "both addresses serve")

    # name server stops answering: the last good addresses keep serving,
    # nothing is refused, one log line however many attempts
    dns.pause()
    t0 = time.monotonic()
    got = []
    while time.monotonic() - t0 < 6.0:
        got.append(served_by(t, addr))
        time.sleep(0.05)
    t.check(lb.wait_stderr(r"pool p: cannot resolve 'app\.test': (A: |AAAA: )?timed out; keeping its 2 addresses in service", 6),
            "resolver outage not logged")
    t.eq(got.count(None), 0, "connections refused during the resolver outage (%d of %d)" % (got.count(None), len(got)))
    t.check(set(got) == {"A", "B"}, "outage changed the servers: %r" % set(got))
    t.log("resolver outage: %d connections over 6s, all served" % len(got))
    dns.resume()
    t.check(lb.wait_stderr(r"pool p: 'app\.test' resolves again \(2 addresses\)", 6), "recovery not logged")
    # NXDOMAIN: still the last good addresses, logged once
    dns.set_hosts("")
    t.check(lb.wait_stderr(r"pool p: cannot resolve 'app\.test': no such name; keeping its 2 addresses", 5),
            "NXDOMAIN not logged")
    time.sleep(1.0)   # five more failed attempts
    err = lb.stderr()
    t.eq(len(re.findall(r"cannot resolve 'app\.test': (A: |AAAA: )?timed out", err)), 1, "outage logged once")
    t.eq(len(re.findall(r"cannot resolve 'app\.test': no such name", err)), 1, "NXDOMAIN logged once")
    seen = set(served_by(t, addr) for _ in range(8))
    t.eq(seen, {"A", "B"}, "after NXDOMAIN")
    t.check("DOWN" not in err, "a server was marked down over DNS")
    held.close()

    # AAAA: the name moves to IPv6
    if have_ipv6():
        try:
            c = t.identify_backend("C6", host="::1", port=a.port)
        except OSError:
            c = None
        if c is not None:
            dns.set_hosts("::1 app.test\n")
            t.check(wait_until(lambda: served_by(t, addr) == "C6", 5, 0.02), "never moved to the AAAA record")
            t.log("AAAA record followed")
            t.check(lb.wait_stderr(r"pool p: 'app\.test' resolves again \(1 address\)", 2), "recovery not logged")
            t.check(lb.wait_stderr(r"'app\.test' changed: \+\[::1\]:%d -127\.0\.0\.2:%d -127\.0\.0\.3:%d" % (a.port, a.port, a.port), 2),
                    "IPv6 change not logged")


run(test)
