"""Check kinds across reloads, as an operator would abuse them: 60 reloads
cycling one pool's check through tcp, http, tls and agent (checks of 50 ms,
many in flight at each reload, against servers that answer slowly), with
sessions held, a runtime-added server, metrics and admin scraped in
between.  tcplb stays up, the held sessions survive (on_down only fires on
a check that finds a server down), every descriptor comes back, and the
last kind's verdict is in force."""
import sys, os, socket
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def slow_http(c, b):
    c.settimeout(3)
    try:
        d = c.recv(4096)
        if d.startswith(b"GET") or d.startswith(b"HEAD"):
            time.sleep(0.03)
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        elif d[:1] == b"\x16":          # a TLS ClientHello: not TLS here
            c.sendall(b"nope\n")
        time.sleep(0.05)
    except OSError:
        pass


def agent(c, b):
    try:
        time.sleep(0.02)
        c.sendall(b"up 100%\n")
    except OSError:
        pass


KINDS = [
    "{interval: 50ms, timeout: 200ms, rise: 1, fall: 3}",
    "{type: http, path: /x, interval: 50ms, timeout: 200ms, rise: 1, fall: 3, port: %(chk)d}",
    "{type: tls, interval: 50ms, timeout: 200ms, rise: 1, fall: 100, port: %(chk)d}",
    "{type: agent, interval: 50ms, timeout: 200ms, rise: 1, fall: 3}",
]


def test(t):
    app = t.identify_backend("APP")
    chk = t.thread_backend(slow_http, name="chk")
    ag = t.thread_backend(agent, name="agent")
    port, mport = free_port(), free_port()
    sock = t.path("admin.sock")

    def cfg(i):
        hc = KINDS[i % len(KINDS)] % dict(chk=chk.port)
        extra = ", agent_port: %d" % ag.port if "agent" in hc else ""
        return """\
global:
  admin_socket: %s
  metrics: 127.0.0.1:%d
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    on_down: shutdown_sessions
    health_check: %s
    servers:
      - {address: "%s", name: app%s}
""" % (sock, mport, port, hc, app.hostport, extra)
    lb = t.start_config(cfg(1))
    held = []
    for i in range(10):
        s = connect(("127.0.0.1", port))
        t.eq(recv_line(s), "APP")
        held.append(s)
    time.sleep(0.3)
    base = lb.fd_count()
    for i in range(60):
        t.reload(lb, cfg(i))
        if i % 7 == 0:
            admin_json(sock, "show servers")
            http_get(("127.0.0.1", mport), "/metrics")
        time.sleep(0.03)
    t.reload(lb, cfg(3))            # agent last: up
    t.check(wait_until(lambda: (admin_json(sock, "show servers")["servers"][0]["last_check"] or {})
                       .get("result") == "agent: up 100%", timeout=5), "agent verdict not in force")
    # Held sessions: untouched (the server never went down).
    for s in held:
        s.sendall(b"ping\n")
        t.eq(recv_line(s), "ping", "held session still relays")
        s.close()
    t.check(wait_until(lambda: lb.fd_count() <= base, timeout=5),
            "fds after 60 reloads: %d, before %d" % (lb.fd_count(), base))
    t.check(lb.alive(), "tcplb died")


if __name__ == "__main__":
    run(test, timeout=90)
