"""Admin state and weight set on a server name follow the name (issue 21,
items 6 and 10).

- `set server p/app state maint` on app.test (127.0.0.2), then DNS moves
  app.test to 127.0.0.3: the server comes back in maint (it came back
  `ready` and took clients).  A second address of the name gets the same
  state; a weight set on the name follows the same way.
- A weight override that a reload makes meaningless -- the file's new
  weight equals it, or roundrobin can no longer apply it because the
  configured weight dropped below it -- is cleared and no longer
  reported."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from dnsd import Dnsmasq


def test(t):
    a = t.identify_backend("A", host="127.0.0.2")
    b = t.identify_backend("B", host="127.0.0.3", port=a.port)
    c = t.identify_backend("C")
    dns = Dnsmasq(t, hosts="127.0.0.2 app.test\n")
    port, sock = free_port(), t.path("admin.sock")
    addr = ("127.0.0.1", port)

    def cfg(wc):
        return """\
global:
  admin_socket: %s
  resolvers: ["%s"]
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    balance: leastconn
    resolve_interval: 200ms
    servers:
      - {address: "app.test:%d", name: app, weight: 4}
      - {address: "%s", name: other, weight: %d}
""" % (sock, dns.server, port, a.port, c.hostport, wc)

    lb = t.start_config(cfg(4))

    def servers():
        return {(s["server"], s["address"]): s
                for s in admin_json(sock, "show servers p")["servers"]}

    ans = admin_send(sock, "set server p/app state maint")
    t.check("state maint" in ans, ans)
    ans = admin_send(sock, "set server p/app weight 2")
    t.check("weight 2" in ans, ans)
    for _ in range(6):
        t.eq(t.identify(addr), "C", "app in maint takes no client")

    dns.set_hosts("127.0.0.3 app.test\n")
    key = ("app", "127.0.0.3:%d" % a.port)
    t.check(wait_until(lambda: key in servers(), 5, 0.05), "DNS change not applied")
    s = servers()[key]
    t.eq(s["admin"], "maint", "the name's state after its address changed")
    t.eq(s["weight"], 2, "the name's weight after its address changed")
    for _ in range(6):
        t.eq(t.identify(addr), "C", "app (new address) in maint takes no client")

    # A second address of the name: the same state.
    dns.set_hosts("127.0.0.3 app.test\n127.0.0.2 app.test\n")
    key2 = ("app", "127.0.0.2:%d" % a.port)
    t.check(wait_until(lambda: key2 in servers(), 5, 0.05), "second address not added")
    t.eq(servers()[key2]["admin"], "maint", "a new address of the name")

    # Back to ready by name: every address.
    admin_send(sock, "set server p/app state ready")
    t.eq({s["admin"] for k, s in servers().items() if k[0] == "app"}, {"ready"})

    # Weight overrides that a reload makes meaningless.
    admin_send(sock, "set server p/other weight 3")
    t.eq(servers()[("other", c.hostport)]["weight"], 3)
    t.reload(lb, cfg(3))        # the file says 3 now: nothing overridden
    admin_send(sock, "set server p/other weight 3")     # still fine
    s = servers()[("other", c.hostport)]
    t.eq((s["weight"], s["configured_weight"]), (3, 3))
    t.reload(lb, cfg(5))        # the file moved on: the file wins
    s = servers()[("other", c.hostport)]
    t.eq((s["weight"], s["configured_weight"]), (5, 5),
         "override equal to an earlier file weight is not kept")

    lb2cfg = cfg(5).replace("balance: leastconn", "balance: roundrobin")
    t.reload(lb, lb2cfg)
    admin_send(sock, "set server p/other weight 2")
    t.eq(servers()[("other", c.hostport)]["weight"], 2)
    t.reload(lb, lb2cfg.replace("weight: 5", "weight: 1"))
    s = servers()[("other", c.hostport)]
    t.eq((s["weight"], s["configured_weight"]), (1, 1),
         "roundrobin cannot raise a weight: the override above the new file weight is gone")
    t.check(lb.wait_stderr(r"p/other: weight 2 set at run time no longer applies", timeout=5),
            "dropped override not logged")


run(test)
