"""Counters never go down (issue 21, items 5 and 11).

- A pool's totals are its own: 10 connections to each of two servers,
  then a reload removes one: tcplb_pool_connections_total stays 20 (it
  was a sum over the current servers and fell to 10), in /metrics and in
  `show pools`; a reload that brings the server back, and one that
  renames nothing, keep it too.  The listener's total is kept as well.
- bytes_in counts what the client sent, not the PROXY header tcplb wrote
  in front of it: 100 bytes through a proxy_protocol v1 pool are 100 in
  the server's, the pool's and the listener's bytes_in."""
import sys, os, json
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def metric(text, name, **labels):
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        ok = all('%s="%s"' % (k, v) in line for k, v in labels.items())
        if ok:
            return float(line.rsplit(" ", 1)[1])
    raise TestFailure("no %s%r in /metrics" % (name, labels))


def test(t):
    a = t.identify_backend("A")
    b = t.identify_backend("B")
    e = t.backend("E")      # echo: gets the PROXY header, then the bytes
    port, pport, mport = free_port(), free_port(), free_port()
    sock = t.path("admin.sock")
    maddr = ("127.0.0.1", mport)

    def cfg(servers):
        return """\
global:
  admin_socket: %s
  metrics: 127.0.0.1:%d
listeners:
  front: {bind: "127.0.0.1:%d", pool: web}
  px: {bind: "127.0.0.1:%d", pool: px}
pools:
  web:
    servers:
%s
  px:
    proxy_protocol: v1
    servers: ["%s"]
""" % (sock, mport, port, pport,
       "".join('      - {address: "%s", name: %s}\n' % (x.hostport, n)
               for x, n in servers), e.hostport)

    lb = t.start_config(cfg([(a, "a"), (b, "b")]))
    addr = ("127.0.0.1", port)
    seen = {"A": 0, "B": 0}
    for _ in range(20):
        seen[t.identify(addr)] += 1
    t.eq(seen, {"A": 10, "B": 10}, "round robin over a and b")

    def totals():
        m = http_get(maddr, "/metrics")[2].decode()
        pools = {p["name"]: p for p in admin_json(sock, "show pools")["pools"]}
        return (metric(m, "tcplb_pool_connections_total", pool="web"),
                pools["web"]["total"],
                metric(m, "tcplb_listener_connections_total", listener="front"))

    wait_until(lambda: totals() == (20, 20, 20), timeout=3)
    t.eq(totals(), (20, 20, 20), "before the reload")
    t.reload(lb, cfg([(a, "a")]))
    t.eq(totals(), (20, 20, 20), "after a reload removed server b")
    for _ in range(5):
        t.eq(t.identify(addr), "A")
    wait_until(lambda: totals()[0] == 25, timeout=3)
    t.eq(totals(), (25, 25, 25), "counting on after the reload")
    t.reload(lb, cfg([(a, "a"), (b, "b")]))
    t.eq(totals(), (25, 25, 25), "after b came back")

    # bytes_in without the PROXY header.
    s = connect(("127.0.0.1", pport))
    payload = b"x" * 100
    s.sendall(payload)
    got = b""
    deadline = time.monotonic() + 3
    while not got.endswith(payload) and time.monotonic() < deadline:
        got += s.recv(4096)
    t.check(got.startswith(b"PROXY TCP4 "), "the server got a header: %r" % got[:40])
    s.close()

    def bytes_in():
        m = http_get(maddr, "/metrics")[2].decode()
        srv = [x for x in admin_json(sock, "show servers px")["servers"]]
        return (metric(m, "tcplb_server_bytes_in_total", pool="px"),
                metric(m, "tcplb_pool_bytes_in_total", pool="px"),
                metric(m, "tcplb_listener_bytes_in_total", listener="px"),
                srv[0]["bytes_in"])

    wait_until(lambda: bytes_in()[0] > 0, timeout=3)
    t.eq(bytes_in(), (100, 100, 100, 100), "bytes_in: server, pool, listener, show servers")


run(test)
