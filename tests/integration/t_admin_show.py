"""Admin socket: `show info/listeners/pools/servers` in text and JSON agree
with the traffic that went through (connections, bytes, failures), the
socket is created mode 0660, and `tcplb ctl` prints the answer and exits 0
(1 on an error answer, 64 on a usage error)."""
import sys, os, json, stat
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def test(t):
    a = t.identify_backend("A")
    dead = refused_port()
    port = free_port()
    sock = t.path("admin.sock")
    lb = t.start_config("""\
global:
  admin_socket: %s
listeners:
  front: {bind: "127.0.0.1:%d", pool: web}
pools:
  web:
    balance: roundrobin
    retries: 1
    servers:
      - {address: "%s", name: app1}
      - {address: "127.0.0.1:%d", name: dead}
""" % (sock, port, a.hostport, dead))
    addr = ("127.0.0.1", port)
    mode = stat.S_IMODE(os.stat(sock).st_mode)
    t.eq(oct(mode), oct(0o660), "admin socket mode")

    for i in range(6):
        s = connect(addr)
        t.eq(recv_line(s), "A")
        t.check(t.echo_ok(s, b"x" * 1000), "echo through tcplb")
        s.close()

    def settled():
        j = admin_json(sock, "show servers")
        app1 = [x for x in j["servers"] if x["server"] == "app1"][0]
        return j if app1["active"] == 0 and app1["total"] == 6 else None
    j = wait_until(settled, timeout=5)
    t.check(j, "show servers never settled at 6 connections on app1: %r" %
            admin_send(sock, "show servers"))
    app1 = [x for x in j["servers"] if x["server"] == "app1"][0]
    d = [x for x in j["servers"] if x["server"] == "dead"][0]
    t.eq(app1["state"], "ready")
    t.eq(app1["health"], "up")
    t.eq(app1["weight"], 1)
    t.eq(app1["bytes_in"], 6000, "bytes client->server counted")
    t.check(app1["bytes_out"] >= 6000 + 12, "bytes server->client counted: %r" % app1)
    t.check(d["connect_failures"]["refused"] >= 1, "refused connect counted: %r" % d)
    t.eq(d["total"], 0)
    t.eq(app1["retries"] + d["retries"], app1["retries"])

    text = admin_send(sock, "show servers")
    lines = text.splitlines()
    t.check(lines[0].startswith("# pool server address state"), "header: %r" % lines[0])
    row = [l for l in lines if l.startswith("web app1 ")][0].split()
    t.eq(row[2], a.hostport)
    t.eq(row[3], "ready")
    t.eq(row[8], "6", "total column")

    info = admin_send(sock, "show info")
    t.check(re.search(r"^state: ready$", info, re.M), "state line: %r" % info)
    t.check(re.search(r"^pid: %d$" % lb.pid, info, re.M), "pid line: %r" % info)
    t.check(re.search(r"^generation: 1$", info, re.M), info)
    t.check(re.search(r"^workers: \d+$", info, re.M), info)
    t.check(re.search(r"^config: .*tcplb.yaml$", info, re.M), info)
    ji = admin_json(sock, "show info")
    t.eq(ji["state"], "ready")
    t.eq(ji["pid"], lb.pid)
    t.eq(ji["total_connections"], 6)

    jl = admin_json(sock, "show listeners")
    t.eq(jl["listeners"][0]["name"], "front")
    t.eq(jl["listeners"][0]["total"], 6)
    t.eq(jl["listeners"][0]["bytes_in"], 6000)
    jp = admin_json(sock, "show pools")
    t.eq(jp["pools"][0]["name"], "web")
    t.eq(jp["pools"][0]["total"], 6)
    t.eq(jp["pools"][0]["servers"], 2)
    t.check(admin_send(sock, "show pools").startswith("# pool balance"), "pools text")
    t.check(admin_send(sock, "show listeners").startswith("# listener"), "listeners text")
    t.check("show sessions" in admin_send(sock, "help"), "help lists commands")

    # tcplb ctl: same answers, exit status
    rc, out, err = t.ctl(sock, "show", "servers", "web")
    t.eq(rc, 0, "ctl show servers: " + err)
    t.check("web app1 " in out, out)
    rc, out, err = t.ctl(sock, "show", "servers", "nope")
    t.eq(rc, 1, "ctl on an error answer")
    t.check("no pool 'nope'" in err, err)
    rc, out, err = t.ctl(sock, "show", "info", "json")
    t.eq(rc, 0)
    t.eq(json.loads(out)["state"], "ready")
    rc, out, err = t.run_tcplb(["ctl"])
    t.eq(rc, 64, "ctl without a command")
    rc, out, err = t.ctl(t.path("missing.sock"), "show", "info")
    t.eq(rc, 1, "ctl to a missing socket")
    t.check("cannot connect" in err, err)
    # the socket path from the configuration file
    rc, out, err = t.run_tcplb(["ctl", "-c", lb.cfg, "show", "info"])
    t.eq(rc, 0, "ctl -c CONFIG: " + err)


run(test)
