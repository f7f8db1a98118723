"""health_check type agent: a small agent server speaks HAProxy's
agent-check text on each server's agent_port.  up/down (with a
description), N% (weight), drain/maint/ready (admin state; the agent's
`ready` never lifts an operator's maint), combinations on one line; an
unknown word, a 1 MB line, a silent agent and a closed agent port are each
a failed check with the reason in `show servers`."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *

LINES = {}


def agent(c, b):
    line = LINES[b.name]
    try:
        if line is None:                 # silent: accept, never answer
            time.sleep(2)
            return
        c.sendall(line)
        time.sleep(0.05)
    except OSError:
        pass


def test(t):
    names = ["up", "down", "half", "drainer", "unknown", "huge", "silent", "combo", "double"]
    LINES.update({
        "up": b"up 100%\n",
        "down": b"down#disk full\n",
        "half": b"50%\r\n",
        "drainer": b"drain\n",
        "unknown": b"up sideways\n",
        "huge": b"u" * (1 << 20),
        "silent": None,
        "combo": b"up, 25% maint\n",
        "double": b"150%\n",            # roundrobin only lowers a weight
    })
    agents = {n: t.thread_backend(agent, name=n) for n in names}
    apps = {n: t.identify_backend(n.upper()) for n in names + ["closed"]}
    dead = refused_port()
    port = free_port()
    sock = t.path("admin.sock")
    servers = "".join('      - {address: "%s", name: %s, weight: 4, agent_port: %d}\n'
                      % (apps[n].hostport, n, agents[n].port) for n in names)
    servers += '      - {address: "%s", name: closed, agent_port: %d}\n' % (apps["closed"].hostport, dead)
    cfg = """\
global:
  admin_socket: %s
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    balance: roundrobin
    health_check: {type: agent, interval: 300ms, timeout: 700ms, rise: 1, fall: 1}
    servers:
%s""" % (sock, port, servers)
    lb = t.start_config(cfg)
    want = {
        "up": ("up", "ready", 4, r"^agent: up 100%$"),
        "down": ("down", "ready", 4, r"^agent: down#disk full$"),
        "half": ("up", "ready", 2, r"^agent: 50%$"),
        "drainer": ("up", "drain", 4, r"^agent: drain$"),
        "unknown": ("down", "ready", 4, r"^agent: unknown word 'sideways'$"),
        "huge": ("down", "ready", 4, r"^agent: line longer than 1024 bytes$"),
        "silent": ("down", "ready", 4, r"^timeout \(no reply\)$"),
        "combo": ("up", "maint", 1, r"^agent: up, 25% maint$"),
        "closed": ("down", "ready", 1, r"^connection refused$"),
        "double": ("up", "ready", 4, r"^agent: 150%$"),
    }
    got = {}

    def settled(w):
        got.clear()
        for s in admin_json(sock, "show servers")["servers"]:
            lc = s["last_check"]
            got[s["server"]] = (s["health"], s["admin"], s["weight"], lc["result"] if lc else "")
        return all(n in got and got[n][:3] == v[:3] and re.search(v[3], got[n][3])
                   for n, v in w.items())
    ok = wait_until(lambda: settled(want), timeout=8)
    for n in sorted(want):
        t.log(n, "want", want[n], "got", got.get(n))
    t.check(ok, "agent outcomes differ")

    # The agent's ready lifts its own drain...
    LINES["drainer"] = b"ready up\n"
    t.check(wait_until(lambda: settled({"drainer": ("up", "ready", 4, r"^agent: ready up$")}), timeout=5),
            "agent ready did not lift its drain: %r" % (got.get("drainer"),))
    # ...but never an operator's maint.
    admin_send(sock, "set server p/up state maint")
    LINES["up"] = b"ready\n"
    time.sleep(1.0)
    settled({})
    t.eq(got["up"][1], "maint", "the agent lifted the operator's maint")
    # An agent's drain never replaces an operator's maint either.
    LINES["drainer"] = b"drain\n"
    t.check(wait_until(lambda: settled({"drainer": ("up", "drain", 4, r"^agent: drain$")}), timeout=5),
            "agent drain not applied: %r" % (got.get("drainer"),))
    admin_send(sock, "set server p/drainer state maint")
    time.sleep(1.0)
    settled({})
    t.eq(got["drainer"][1], "maint", "the agent's drain replaced the operator's maint")
    LINES["drainer"] = b"up\n"
    time.sleep(0.5)
    admin_send(sock, "set server p/drainer state ready")
    t.check(lb.wait_stderr(r"server p/drainer: state drain \(its agent said so\)", timeout=1),
            "agent state change not logged")
    # And traffic goes only where the agent allows: up and ready.
    seen = set()
    for i in range(20):
        s = connect(("127.0.0.1", port))
        seen.add(recv_line(s))
        s.close()
    t.eq(seen, {"HALF", "DRAINER", "DOUBLE"}, "servers that took traffic")
    t.check(lb.alive(), "tcplb died")


if __name__ == "__main__":
    run(test)
