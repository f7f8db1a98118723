"""`tcplb ctl check` on a listener with routes and no pool of its own: ok
while one of its route pools has a server up, failing (naming the
listener) once none has -- it used to skip such listeners and say ok."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def test(t):
    a = t.identify_backend("A")
    port = free_port()
    sock = t.path("admin.sock")
    t.start_config("""\
global:
  admin_socket: %s
listeners:
  tls:
    bind: "127.0.0.1:%d"
    routes:
      - {sni: "dead.example", pool: dead}
      - {sni: "live.example", pool: live}
pools:
  dead:
    health_check: {interval: 100ms}
    servers: ["127.0.0.1:%d"]
  live: {servers: [{address: "%s", name: a}]}
""" % (sock, port, refused_port(), a.hostport))

    def check():
        rc, out, err = t.ctl(sock, "check")
        return rc, out + err
    def dead_down():
        return [p for p in admin_json(sock, "show pools")["pools"] if p["name"] == "dead"][0]["up"] == 0
    t.check(wait_until(dead_down, 5), "pool dead never went down: " + admin_send(sock, "show pools"))
    rc, out = check()
    t.eq(rc, 0, "one route pool up: " + out)
    rc, out = t.ctl(sock, "set", "server", "live/a", "state", "maint")[:2]
    t.eq(rc, 0, out)
    rc, out = check()
    t.check(rc != 0 and "listener 'tls'" in out, "no route pool up must fail: %r" % ((rc, out),))


run(test, timeout=30)
