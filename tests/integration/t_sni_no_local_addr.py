"""A session routed by server name, on a listener that has no pool of its
own (routes only), whose server's `source:` is not an address of this host:
every connect fails with EADDRNOTAVAIL.  tcplb logs the shortage naming the
routed pool and closes the client; it must not crash (the record once took
the pool name from the listener, which has none here)."""
from lib import *
from tlsutil import client_hello


def test(t):
    b = t.identify_backend("B")
    port = free_port()
    cfg = """
pools:
  a:
    retries: 0
    source: 192.0.2.1
    servers: [{address: "%s", name: s}]
listeners:
  tls:
    bind: 127.0.0.1:%d
    inspect_timeout: 3s
    routes:
      - { sni: "a.example.com", pool: a }
"""
    lb = t.start_config(cfg % (b.hostport, port))
    addr = ("127.0.0.1", port)
    for i in range(2):
        c = connect(addr)
        c.sendall(client_hello("a.example.com"))
        data, how = recv_until_eof(c, timeout=5)
        t.eq(data, b"", "client %d: no data" % i)
        t.check(how in ("eof", "reset"), "client %d not closed: %r" % (i, how))
        c.close()
    m = lb.wait_stderr(r"no local address to connect to (\S+)/s .*", timeout=3)
    t.check(m, "the shortage was not logged:\n" + lb.stderr())
    t.eq(m.group(1), "a", "the record names the routed pool")
    t.check(lb.alive(), "tcplb died")
    t.eq(b.stats()["accepted"], 0, "a connection reached the server")


run(test)
