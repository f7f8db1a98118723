"""A client routed by server name and waiting in its pool's queue keeps
its route across a reload, even when the routed pool was also the
listener's own pool and the reload gives the listener another one: when a
slot frees it is served by the routed pool's server, hello intact, not by
the listener's new fallback pool."""
from lib import *
from tlsutil import client_hello

CFG = """
pools:
  fallback: { servers: [%s] }
  a:
    max_queue: 5
    queue_timeout: 5s
    servers: [{ address: "%s", max_connections: 1 }]
listeners:
  tls:
    bind: 127.0.0.1:%d
    pool: %s
    routes:
      - { sni: a.example.com, pool: a }
"""


def test(t):
    A = t.identify_backend("A")
    F = t.identify_backend("FALLBACK")
    port = free_port()
    lb = t.start_config(CFG % (F.hostport, A.hostport, port, "a"))
    addr = ("127.0.0.1", port)
    hello = client_hello("a.example.com")

    first = connect(addr)
    first.sendall(hello)
    t.eq(recv_line(first), "A", "first client")
    second = connect(addr, timeout=6)
    second.sendall(hello)
    time.sleep(0.3)
    t.eq(A.stats()["accepted"], 1, "the second client waits in a's queue")
    # The listener's own pool changes; the route to a stays.
    t.reload(lb, CFG % (F.hostport, A.hostport, port, "fallback"))
    first.close()
    t.eq(recv_line(second, timeout=5), "A", "the routed client, served after the reload")
    t.eq(recv_exact(second, len(hello)), hello, "its hello intact")
    second.close()
    t.eq(F.stats()["accepted"], 0, "nothing went to the listener's new pool")


run(test)
