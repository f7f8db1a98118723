"""Routing by TLS server name, end to end with real TLS: openssl s_server
backends with different self-signed certificates; Python's ssl and
`openssl s_client -servername` through tcplb complete the handshake and
see the right backend's certificate.  Exact names (any case), a '*.'
wildcard over one or more labels, an ALPN route, first match wins; no
name, an unknown name or no TLS at all go to the listener's pool with the
client's bytes forwarded unchanged; the access log names the server name
and route; a reload swaps the routes."""
from lib import *
from tlsutil import *


def test(t):
    have_openssl()
    a_pem, a_key = make_cert(t, "a", ["a.example.com"])
    b_pem, b_key = make_cert(t, "b", ["b.example.com", "*.b.example.com"])
    c_pem, c_key = make_cert(t, "acme", ["acme.invalid"])
    A = SServer(t, "A", a_pem, a_key)
    B = SServer(t, "B", b_pem, b_key)
    C = SServer(t, "ACME", c_pem, c_key, alpn="acme-tls/1")
    fb = t.identify_backend("FALLBACK")
    cfg = """
global: { access_log: true }
pools:
  fallback: { servers: [%s] }
  a: { servers: [%s] }
  b: { servers: [%s] }
  acme: { servers: [%s] }
listeners:
  tls:
    bind: 127.0.0.1:%d
    pool: fallback
    inspect_timeout: 3s
    routes:
      - { sni: "a.example.com", pool: a }
      - { sni: ["*.b.example.com", "b.example.com"], pool: b }
      - { alpn: "acme-tls/1", pool: acme }
"""
    port = free_port()
    p = t.start_config(cfg % (fb.hostport, A.hostport, B.hostport, C.hostport, port))
    addr = ("127.0.0.1", port)
    A_DER, B_DER, C_DER = cert_der(a_pem), cert_der(b_pem), cert_der(c_pem)

    # exact name; full handshake, then bytes both ways
    der, _, line = tls_get(addr, "a.example.com", a_pem)
    t.eq(der, A_DER, "a.example.com's certificate")
    t.eq(line, "HTTP/1.0 200 ok")
    # wildcard: one label, two labels; the bare name by its own pattern
    for name in ("x.b.example.com", "x.y.b.example.com", "b.example.com"):
        der, _, line = tls_get(addr, name, b_pem)
        t.eq(der, B_DER, name)
        t.eq(line, "HTTP/1.0 200 ok")
    # ALPN route (any name not routed before it); a name route listed
    # first wins over it
    der, proto, _ = tls_get(addr, "other.example", c_pem, alpn=["acme-tls/1"])
    t.eq(der, C_DER, "acme-tls/1 route")
    t.eq(proto, "acme-tls/1")
    der, _, _ = tls_get(addr, "a.example.com", a_pem, alpn=["acme-tls/1"])
    t.eq(der, A_DER, "first match wins")
    # the protocol after 4,800 bytes of others still routes (HAProxy
    # matches there too; issue 22, item 8)
    filler = ["filler-%03d-%s" % (i, "x" * 20) for i in range(150)]  # 32 bytes each
    der, proto, _ = tls_get(addr, "other.example", c_pem, alpn=filler + ["acme-tls/1"])
    t.eq(der, C_DER, "acme-tls/1 after a long ALPN list")
    t.eq(proto, "acme-tls/1")

    # openssl s_client, with the name in capitals
    out = s_client(addr, "A.EXAMPLE.COM", a_pem)
    t.check("subject=CN = a.example.com" in out or "subject=CN=a.example.com" in out,
            "s_client saw a.example.com's certificate:\n" + out[-3000:])
    t.check("Verify return code: 0 (ok)" in out, out[-3000:])
    t.check("HTTP/1.0 200 ok" in out, "s_client got the page:\n" + out[-3000:])
    out = s_client(addr, "www.b.example.com", b_pem)
    t.check("Verify return code: 0 (ok)" in out, out[-3000:])

    # no name, unknown name, not TLS: the listener's pool, bytes unchanged
    for what, data in (("no SNI", client_hello(None)),
                       ("unknown name", client_hello("c.example.org")),
                       ("not TLS", b"GET / HTTP/1.0\r\n\r\n")):
        s = connect(addr)
        s.sendall(data)
        t.eq(recv_line(s), "FALLBACK", what)
        t.eq(recv_exact(s, len(data)), data, what + ": bytes forwarded unchanged")
        s.close()

    # the access log: server name and route index; the fallback's route '-'
    t.check(p.wait_stderr(r"listener=tls sni=a\.example\.com route=0 pool=a server="),
            "access log with sni and route")
    t.check(p.wait_stderr(r"listener=tls sni=x\.y\.b\.example\.com route=1 pool=b "),
            "access log, wildcard")
    t.check(p.wait_stderr(r"listener=tls sni=other\.example route=2 pool=acme "),
            "access log, alpn route")
    t.check(p.wait_stderr(r"listener=tls sni=c\.example\.org route=- pool=fallback "),
            "access log, fallback")
    t.check(p.wait_stderr(r"listener=tls sni=- route=- pool=fallback "),
            "access log, no name")

    # a reload swaps the routes in one step
    t.reload(p, (cfg % (fb.hostport, A.hostport, B.hostport, C.hostport, port))
             .replace('sni: "a.example.com", pool: a', 'sni: "a.example.com", pool: b'))
    der, _, _ = tls_get(addr, "a.example.com", b_pem)
    t.eq(der, B_DER, "after reload a.example.com goes to b")
    t.check(p.alive(), "tcplb still running")


run(test)
