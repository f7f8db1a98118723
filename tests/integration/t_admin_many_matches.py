"""A name with more than 64 addresses is changed whole (issue 21, items 7
and 9).

app.test resolves to 100 addresses (dnsmasq): `set server p/app state
drain`, `set server p/app weight 0` and `shutdown sessions server p/app`
act on all 100 (MAX_MATCH stopped at 64, silently), and their `json`
answers are one JSON document each (they were one per address)."""
import sys, os, json
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from dnsd import Dnsmasq

N = 100


def test(t):
    hosts = "".join("127.0.1.%d app.test\n" % (i + 1) for i in range(N))
    dns = Dnsmasq(t, hosts=hosts)
    port, sock = free_port(), t.path("admin.sock")
    lb = t.start_config("""\
global:
  admin_socket: %s
  resolvers: ["%s"]
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    balance: leastconn
    servers:
      - {address: "app.test:9", name: app}
""" % (sock, dns.server, port))

    def app():
        return [s for s in admin_json(sock, "show servers p")["servers"]
                if s["server"] == "app"]

    t.check(wait_until(lambda: len(app()) == N, 5, 0.1),
            "app.test gave %d servers, want %d" % (len(app()), N))
    out = admin_send(sock, "set server p/app state drain json")
    doc = json.loads(out)       # one document, or this raises
    t.eq(len(doc["results"]), N, "results in the one document")
    t.eq({s["admin"] for s in app()}, {"drain"}, "every address drained")
    out = admin_send(sock, "set server p/app weight 0")
    t.eq(len(out.splitlines()), N, "text: a line per server")
    t.eq({s["weight"] for s in app()}, {0}, "every address weighted 0")
    out = admin_send(sock, "shutdown sessions server p/app json")
    t.check("closed 0 sessions" in json.loads(out)["result"], out)
    # One record per server (written by the log thread: wait for them).
    count = lambda: len(re.findall(r"closing its sessions", lb.stderr()))
    wait_until(lambda: count() >= N, timeout=5)
    t.eq(count(), N, "servers shutdown sessions acted on")


run(test)
