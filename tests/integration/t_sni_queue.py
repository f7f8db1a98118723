"""A TLS route's pool queues its own clients: with every server of the
routed pool at max_connections and max_queue set, a client routed there
waits in that pool's queue (not the listener's fallback pool) and is
served, hello intact, when a slot frees."""
from lib import *
from tlsutil import client_hello


def test(t):
    A = t.identify_backend("A")
    F = t.identify_backend("FALLBACK")
    port = free_port()
    t.start_config("""
pools:
  fallback: { servers: [%s] }
  a:
    max_queue: 5
    queue_timeout: 5s
    servers: [{ address: "%s", max_connections: 1 }]
listeners:
  tls:
    bind: 127.0.0.1:%d
    pool: fallback
    routes:
      - { sni: a.example.com, pool: a }
""" % (F.hostport, A.hostport, port))
    addr = ("127.0.0.1", port)
    hello = client_hello("a.example.com")

    first = connect(addr)
    first.sendall(hello)
    t.eq(recv_line(first), "A", "first client")
    second = connect(addr, timeout=6)
    second.sendall(hello)
    time.sleep(0.3)
    t.eq(A.stats()["accepted"], 1, "the second client waits in a's queue")
    t.eq(F.stats()["accepted"], 0, "nothing went to the fallback pool")
    first.close()
    t.eq(recv_line(second, timeout=5), "A", "served when the slot freed")
    t.eq(recv_exact(second, len(hello)), hello, "its hello intact")
    second.close()
    t.eq(F.stats()["accepted"], 0)


run(test)
