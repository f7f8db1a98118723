"""The operator's configuration (/work/shared/design/operator.yaml, ports
and backends adapted): 64 workers, metrics and admin on, limits, routes;
a reload, then two binary upgrades in a row while sessions stay open.
The serving process lists both draining processes and counts their
sessions (show info, /metrics); one SIGTERM ends all three processes
within shutdown_timeout, and no socket file is left."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from upglib import *


def test(t):
    raise_nofile(4 * 64 * 4 + 2000)
    web = t.identify_backend("W")
    api = t.identify_backend("API")
    db = t.backend("DB")
    sock = t.path("admin.sock")
    mport, p1, p2, p3 = free_port(), free_port_all(), free_port_all(), free_port()
    binds = '"0.0.0.0:%d"' % p1 + (', "[::]:%d"' % p1 if have_ipv6() else "")
    cfg = t.write("tcplb.yaml", f"""
global:
  workers: 64
  max_connections: 100000
  shutdown_timeout: 2s
  admin_socket: {sock}
  metrics: 127.0.0.1:{mport}
defaults: {{balance: leastconn, connect_timeout: 2s, idle_timeout: 10m, retries: 2}}
listeners:
  web:
    bind: [{binds}]
    pool: web
    deny: ["192.0.2.0/24"]
    max_connections_per_source: 200
    rate_limit: {{ per_source: 500/s, total: 20000/s, burst: 100 }}
  tls:
    bind: "0.0.0.0:{p2}"
    pool: web
    inspect_timeout: 3s
    routes:
      - {{ sni: "api.example.test", pool: api }}
  db:
    bind: "127.0.0.1:{p3}"
    pool: db
pools:
  web:
    max_queue: 500
    queue_timeout: 2s
    health_check: {{ interval: 2s, timeout: 1s, rise: 2, fall: 3 }}
    servers: ["{web.hostport}"]
  api:
    balance: source
    servers: ["{api.hostport}"]
  db:
    balance: first
    servers: [{{address: "{db.hostport}", max_connections: 100}}]
""")
    run = UpgradeRun(t, cfg, workers=64, nofile=4 * 64 * 4 + 2000)
    held = []
    for i in range(3):
        s = connect(("127.0.0.1", p3))
        s.sendall(b"a")
        recv_exact(s, 1)
        held.append(s)
    for i in range(10):
        t.eq(t.identify(("127.0.0.1", p1)), "W")
    os.kill(run.main, signal.SIGHUP)
    time.sleep(0.3)
    first_old = run.main
    run.upgrade()
    for i in range(2):
        s = connect(("127.0.0.1", p3))
        s.sendall(b"b")
        recv_exact(s, 1)
        held.append(s)
    run.upgrade()
    info = {}
    # (an old process updates its figures every 50 ms)
    wait_until(lambda: info.update(admin_json(sock, "show info")) or
               info["active_connections_all"] == 5, 3)
    t.log("after 2 upgrades: %r" % {k: info[k] for k in (
        "pid", "active_connections", "active_connections_all", "draining_processes")})
    t.eq(len(info["draining_processes"]), 2, "two draining")
    t.eq(info["active_connections_all"], 5)
    t.check(wait_until(lambda: b"tcplb_upgrade_draining_connections 5" in
                       http_get(("127.0.0.1", mport), "/metrics")[2], 3), "gauge")
    for s in held:
        t.check(t.echo_ok(s, b"x"), "held")
    t0 = time.monotonic()
    os.kill(run.main, signal.SIGTERM)
    t.check(wait_until(lambda: not pid_alive(run.main) and not pid_alive(run.old) and
                       not pid_alive(first_old), 10), "all stopped")
    took = time.monotonic() - t0
    t.log("stop of 3 processes took %.2fs" % took)
    t.check(took < 2.0 + 3.0, "the stop took %.2fs (shutdown_timeout 2s)" % took)
    t.check(not os.path.exists(sock), "socket removed")
    t.eq([f for f in os.listdir(t.dir) if f.startswith("admin.sock")], [], "no leftovers")
run(test)
