"""The loop guard (issue 22, item 11) also knows the addresses that reach
a listener under another spelling.  A DNS sinkhole (Pi-hole, a filtering
resolver) answers 0.0.0.0 for a blocked name, and Linux connects 0.0.0.0
to this host: a server at 0.0.0.0 on a listener's port is that listener,
and every client would loop back through tcplb until max_connections.
The new answer must be refused like the listener's own address, and the
name keep its running address."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from scriptdns import ScriptDns


def test(t):
    dns = ScriptDns()
    t.add_closer(dns)
    port = free_port()
    a = t.identify_backend("A", host="127.0.0.2", port=port)
    dns.set("app.test", "A", ["127.0.0.2"])
    dns.set("app.test", "AAAA", [])
    lb = t.start_config("""\
global:
  resolvers: ["127.0.0.1:%d"]
  max_connections: 50
  access_log: true
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    resolve_interval: 100ms
    servers:
      - {address: "app.test:%d", name: app}
""" % (dns.port, port, port))
    addr = ("127.0.0.1", port)
    t.eq(t.identify(addr), "A", "before the sinkhole")
    dns.set("app.test", "A", ["0.0.0.0"])
    t.check(lb.wait_stderr(r"pool p: cannot use the new addresses of 'app\.test': .*"
                           r"tcplb's own listener 'front'", 5),
            "a server at 0.0.0.0 on the listener's port was not refused")
    time.sleep(0.3)
    t.eq(t.identify(addr), "A", "the name kept its running address")
    time.sleep(0.3)
    # one session per client; a loop adds one per pass through tcplb
    t.eq(len(re.findall(r"listener=front", lb.stderr())), 2,
         "sessions on the listener for 2 clients")
    t.check(lb.alive(), "tcplb died")


run(test, timeout=60)
