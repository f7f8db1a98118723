"""TLS routes in `tcplb -t` and on reload: unknown pools, duplicate names
and invalid patterns are reported as FILE:LINE:COL (exit 78); a reload
with such a file changes nothing -- the old routes keep routing -- and a
good one swaps them."""
from lib import *
from tlsutil import client_hello

BAD = """\
pools:
  a: { servers: [127.0.0.1:1] }
listeners:
  tls:
    bind: 127.0.0.1:%d
    routes:
      - { sni: a.example.com, pool: nosuchpool }
      - { sni: ["b.example.com", "B.EXAMPLE.COM"], pool: a }
      - { sni: "www.*.example.com", pool: a }
      - { alpn: h2 }
"""

GOOD = """\
pools:
  a: { servers: [%s] }
  b: { servers: [%s] }
listeners:
  tls:
    bind: 127.0.0.1:%d
    routes:
      - { sni: "*.example.com", pool: %s }
"""


def routed(t, addr, name):
    s = connect(addr)
    try:
        s.sendall(client_hello(name))
        return recv_line(s)
    finally:
        s.close()


def test(t):
    port = free_port()
    cfg = t.write("bad.yaml", BAD % port)
    rc, out, err = t.run_tcplb(["-t", "-c", cfg])
    t.eq(rc, 78, "exit status of -t on a bad file")
    for line, col, text in ((7, 37, "unknown pool 'nosuchpool'"),
                            (8, 34, "duplicate server name 'B.EXAMPLE.COM'"),
                            (9, 16, "invalid server name pattern 'www.*.example.com'"),
                            (10, 9, "missing required key 'pool'")):
        t.check(re.search(r"^%s:%d:%d: listeners\.tls\.routes\[\d+\][.a-z]*: %s"
                          % (re.escape(cfg), line, col, re.escape(text)), err, re.M),
                "-t reports %d:%d %s:\n%s" % (line, col, text, err))

    A = t.identify_backend("A")
    B = t.identify_backend("B")
    p = t.start_config(GOOD % (A.hostport, B.hostport, port, "a"))
    addr = ("127.0.0.1", port)
    t.eq(routed(t, addr, "x.example.com"), "A")
    # an invalid file: nothing changes
    msgs = t.reload(p, BAD % port)
    t.check(any("STATUS=" in m and "tcplb.yaml:7:" in m for m in msgs),
            "READY's STATUS names the error: %r" % msgs)
    t.eq(routed(t, addr, "x.example.com"), "A", "old routes after a failed reload")
    # a good one swaps the routes
    t.reload(p, GOOD % (A.hostport, B.hostport, port, "b"))
    t.eq(routed(t, addr, "x.example.com"), "B", "new routes after reload")
    # no pool on the listener: no match is closed
    s = connect(addr)
    s.sendall(client_hello("example.org"))
    got, how = recv_until_eof(s)
    s.close()
    t.eq(got, b"")


run(test)
