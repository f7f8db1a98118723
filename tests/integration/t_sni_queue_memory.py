"""Queued TLS clients hold only their ClientHello, counted (issue 22,
item 13): once routed, a client waiting in a pool's queue keeps its hello
in a buffer of the hello's size, not the 21 KiB inspection buffer, and
tcplb_inspect_held_bytes says how much is held -- exactly N hellos while N
clients wait, 0 once they are served (or gone)."""
from lib import *
from tlsutil import client_hello

N = 40


def held(maddr):
    st, h, body = http_get(maddr, "/metrics")
    m = re.search(rb"^tcplb_inspect_held_bytes (\d+)$", body, re.M)
    return int(m.group(1)) if m else None


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def test(t):
    A = t.identify_backend("A")
    port, mport = free_port(), free_port()
    lb = t.start_config("""
global:
  metrics: 127.0.0.1:%d
pools:
  a:
    max_queue: 1000
    queue_timeout: 20s
    servers: [{ address: "%s", max_connections: 1 }]
listeners:
  tls:
    bind: 127.0.0.1:%d
    routes:
      - { sni: a.example.com, pool: a }
""" % (mport, A.hostport, port))
    maddr = ("127.0.0.1", mport)
    addr = ("127.0.0.1", port)
    hello = client_hello("a.example.com")
    t.eq(held(maddr), 0, "nothing held at first")
    first = connect(addr)
    t.add_closer(first)
    first.sendall(hello)
    t.eq(recv_line(first), "A", "first client")
    r0 = rss_kib(lb.pid)
    waiting = []
    for _ in range(N):
        s = connect(addr, timeout=20)
        t.add_closer(s)
        s.sendall(hello)
        waiting.append(s)
    t.check(wait_until(lambda: held(maddr) == N * len(hello), 5),
            "held %r bytes for %d queued hellos of %d bytes" % (held(maddr), N, len(hello)))
    grew = rss_kib(lb.pid) - r0
    t.log("%d queued TLS clients: %d bytes held, RSS +%d KiB" % (N, held(maddr), grew))
    # one queued client leaves: its hello is freed at once
    rst_close(waiting.pop())
    t.check(wait_until(lambda: held(maddr) == (N - 1) * len(hello), 5),
            "a client that left still counted (%r)" % held(maddr))
    first.close()
    # one slot: served one at a time, in the order the workers queued
    # them; each is closed once it has its answer
    served = recv_each(waiting, b"A\n" + hello, 20)
    t.eq(served, len(waiting), "queued clients served, hello intact")
    t.check(wait_until(lambda: held(maddr) == 0, 5), "bytes still held after all were served")


run(test, timeout=60)
