"""An address DNS adds to a pool with health checks is not used before a
check passes (a dead one never gets a client) -- unless no other server is
up, when waiting would refuse everyone; and DNS changes racing SIGHUP
reloads never interleave two swaps: every reload completes and the final
servers are what DNS says last."""
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
    resolve_interval: 100ms
    health_check: {interval: 100ms, timeout: 100ms, rise: 2, fall: 2}
    servers:
      - {address: "app.test:%d", name: app}
"""


def test(t):
    a = t.identify_backend("A", host="127.0.0.2")
    b = t.identify_backend("B", host="127.0.0.3", port=a.port)
    dns = Dnsmasq(t, hosts="127.0.0.2 app.test\n")
    port = free_port()
    addr = ("127.0.0.1", port)
    lb = t.start_config(CFG % (dns.server, port, a.port), extra=["-v"])
    t.eq(t.identify(addr), "A", "at load")

    # a dead address (nothing listens on 127.0.0.4) joins: it starts down
    # and no client is ever sent there
    dns.set_hosts("127.0.0.2 app.test\n127.0.0.4 app.test\n")
    t.check(lb.wait_stderr(r"pool p: new server app \(127\.0\.0\.4:%d\) waits for a health check" % a.port, 5),
            "new server not held for a check")
    t0 = time.monotonic()
    while time.monotonic() - t0 < 1.0:
        t.eq(t.identify(addr), "A", "with a dead address added")
    t.check(not re.search(r"connect to p/app \(127\.0\.0\.4", lb.stderr()),
            "a client was sent to the unchecked dead address")

    # a live one joins after rise checks and then takes clients
    dns.set_hosts("127.0.0.2 app.test\n127.0.0.3 app.test\n")
    t.check(lb.wait_stderr(r"server p/app \(127\.0\.0\.3:%d\) is UP" % a.port, 5), "B never came up")
    t.check(wait_until(lambda: t.identify(addr) == "B", 3, 0.02), "B never served")

    # DNS flapping while SIGHUPs arrive: every reload completes, the
    # process stays up, and it ends with what DNS says last
    for i in range(6):
        dns.set_hosts("127.0.0.%d app.test\n" % (2 + i % 2))
        t.reload(lb)
        time.sleep(0.05)
    dns.set_hosts("127.0.0.3 app.test\n")
    t.check(wait_until(lambda: all(t.identify(addr) == "B" for _ in range(4)), 5, 0.05),
            "did not settle on B")
    t.check(lb.alive(), "tcplb died")

    # the only address changes: the new one may not wait for its checks,
    # or every client would be refused meanwhile
    dns.set_hosts("127.0.0.2 app.test\n")
    got = []
    t0 = time.monotonic()
    while time.monotonic() - t0 < 1.5:
        got.append(t.identify(addr))
    t.eq(got.count(None), 0, "clients refused while the only address changed (%d of %d)" % (got.count(None), len(got)))
    t.check(got[-1] == "A", "never moved to A")
    t.check(lb.wait_stderr(r"pool p: new server app \(127\.0\.0\.2:%d\) takes clients before its first check" % a.port, 2),
            "not logged")
    gens = re.findall(r"generation (\d+) published after a DNS change", lb.stderr())
    t.log("%d DNS publications, %d reloads" % (len(gens), 6))


run(test)
