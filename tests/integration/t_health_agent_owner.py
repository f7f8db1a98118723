"""Who owns a server's admin state when an agent sets it.  An operator's
`set server ... state maint` is the operator's, even when the agent had
put the server in maint first: the agent's later `ready` must not lift
it.  And what an agent set (drain, N%) is the agent's alone: a reload
that stops the agent checks (the pool checks with tcp now) takes it back,
instead of leaving the server drained with nobody left to undrain it; a
binary upgrade hands over who set what, so the agent's `ready` still lifts
its own drain in the new process."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *

LINES = {}


class Pid:
    """The new process of the upgrade (not started by the test)."""
    def __init__(self, pid):
        self.pid = pid

    def close(self):
        try:
            os.kill(self.pid, signal.SIGKILL)
        except OSError:
            pass


def agent(c, b):
    try:
        c.sendall(LINES[b.name])
        time.sleep(0.05)
    except OSError:
        pass


CFG = """\
global:
  admin_socket: %s
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    balance: roundrobin
    health_check: {type: %s, interval: 200ms, timeout: 500ms, rise: 1, fall: 1}
    servers:
%s"""


def test(t):
    names = ["owned", "drained"]
    LINES.update({"owned": b"up maint\n", "drained": b"up drain 50%\n"})
    agents = {n: t.thread_backend(agent, name=n) for n in names}
    apps = {n: t.identify_backend(n.upper()) for n in names}
    port = free_port()
    sock = t.path("admin.sock")
    servers = "".join('      - {address: "%s", name: %s, weight: 4, agent_port: %d}\n'
                      % (apps[n].hostport, n, agents[n].port) for n in names)
    plain = "".join('      - {address: "%s", name: %s, weight: 4}\n'
                    % (apps[n].hostport, n) for n in names)
    lb = t.start_config(CFG % (sock, port, "agent", servers))
    got = {}

    def settled(w):
        got.clear()
        for s in admin_json(sock, "show servers")["servers"]:
            got[s["server"]] = (s["health"], s["admin"], s["weight"])
        return all(got.get(n) == v for n, v in w.items())
    t.check(wait_until(lambda: settled({"owned": ("up", "maint", 4),
                                        "drained": ("up", "drain", 2)}), timeout=8),
            "agent states not applied: %r" % got)
    # The operator puts the server in maint too: from now on the maint
    # is the operator's.
    admin_send(sock, "set server p/owned state maint")
    LINES["owned"] = b"up ready\n"
    time.sleep(1.0)
    settled({})
    t.eq(got["owned"][1], "maint", "the agent's ready lifted the operator's maint")
    # The operator's ready ends it; the agent's words count again.
    admin_send(sock, "set server p/owned state ready")
    LINES["owned"] = b"up drain\n"
    t.check(wait_until(lambda: settled({"owned": ("up", "drain", 4)}), timeout=5),
            "agent drain after the operator's ready: %r" % (got.get("owned"),))
    # A reload to tcp checks: no agent any more, so nothing it set stays.
    t.reload(lb, CFG % (sock, port, "tcp", plain))
    ok = wait_until(lambda: settled({"owned": ("up", "ready", 4),
                                     "drained": ("up", "ready", 4)}), timeout=5)
    t.log("after the reload to tcp checks:", got)
    t.check(ok, "the agent's drain/weight outlived its agent: %r" % got)
    seen = set()
    for i in range(8):
        s = connect(("127.0.0.1", port))
        seen.add(recv_line(s))
        s.close()
    t.eq(seen, {"OWNED", "DRAINED"}, "servers that take traffic after the reload")
    # An operator's drain set while tcp-checked is untouched by anything.
    admin_send(sock, "set server p/drained state drain")
    t.reload(lb, CFG % (sock, port, "agent", servers))
    LINES["drained"] = b"up ready\n"
    time.sleep(1.0)
    settled({})
    t.eq(got["drained"][1], "drain", "an agent's ready lifted the operator's drain")
    t.check(lb.alive(), "tcplb died")
    # The agent drains "owned"; a binary upgrade; the agent's ready must
    # still lift its drain in the new process.
    admin_send(sock, "set server p/drained state ready")
    # A reload that moves "drained" to another address (its state goes by
    # name to a new server) keeps the agent's drain the agent's.
    LINES["drained"] = b"up drain\n"
    t.check(wait_until(lambda: settled({"drained": ("up", "drain", 4)}), timeout=5),
            "agent drain: %r" % (got.get("drained"),))
    moved = t.identify_backend("MOVED")
    t.reload(lb, CFG % (sock, port, "agent", servers.replace(apps["drained"].hostport, moved.hostport)))
    settled({})
    t.eq(got["drained"][1], "drain", "the agent's drain after the move")
    LINES["drained"] = b"up ready\n"
    t.check(wait_until(lambda: settled({"drained": ("up", "ready", 4)}), timeout=5),
            "the agent's ready did not lift its drain on the moved server: %r"
            % (got.get("drained"),))
    LINES["owned"] = b"up drain\n"
    t.check(wait_until(lambda: settled({"owned": ("up", "drain", 4)}), timeout=5),
            "agent drain before the upgrade: %r" % (got.get("owned"),))
    start = t.notify.count()
    lb.signal(signal.SIGUSR2)
    r = t.notify.wait_for("MAINPID=", start=start, timeout=15)
    t.check(r, "no MAINPID= after SIGUSR2")
    new_pid = int([l for l in r[1].split("\n") if l.startswith("MAINPID=")][0].split("=")[1])
    t.add_closer(Pid(new_pid))
    t.check(t.notify.wait_for("READY=1", start=r[0] + 1, timeout=5), "no READY=1 from the new process")
    t.eq(lb.wait(10), 0, "exit status of the old process")
    settled({})
    t.eq(got["owned"][1], "drain", "the agent's drain across the upgrade")
    LINES["owned"] = b"up ready\n"
    t.check(wait_until(lambda: settled({"owned": ("up", "ready", 4)}), timeout=5),
            "the agent's ready did not lift its own drain after the upgrade: %r"
            % (got.get("owned"),))


if __name__ == "__main__":
    run(test)
