"""TLS routing on a fragmented ClientHello: the hello sent one byte per
TCP segment (TCP_NODELAY, a pause after each byte), and also cut into
7-byte TLS records sent one byte per segment, still reaches the backend
its server name routes to, and the handshake completes with that
backend's certificate (the bytes were forwarded unchanged)."""
from lib import *
from tlsutil import *
import ssl as _ssl


def test(t):
    have_openssl()
    a_pem, a_key = make_cert(t, "a", ["a.example.com"])
    b_pem, b_key = make_cert(t, "b", ["b.example.com", "*.b.example.com"])
    A = SServer(t, "A", a_pem, a_key)
    B = SServer(t, "B", b_pem, b_key)
    port = free_port()
    p = t.start_config("""
pools:
  a: { servers: [%s] }
  b: { servers: [%s] }
listeners:
  tls:
    bind: 127.0.0.1:%d
    pool: a
    routes:
      - { sni: "*.b.example.com", pool: b }
""" % (A.hostport, B.hostport, port))
    addr = ("127.0.0.1", port)

    der, n = fragmented_handshake(addr, "x.b.example.com", b_pem, delay=0.002)
    t.log("hello of %d bytes sent in %d segments" % (n, n))
    t.eq(der, cert_der(b_pem), "one byte per segment")
    t.check(p.wait_stderr(r"sni=x\.b\.example\.com route=0 pool=b "), "routed by name")

    # the same hello re-framed into 7-byte TLS records, byte by byte
    ctx = _ssl.create_default_context(cafile=b_pem)
    ctx.check_hostname = False
    inc, out = _ssl.MemoryBIO(), _ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="y.b.example.com")
    try:
        obj.do_handshake()
    except _ssl.SSLWantReadError:
        pass
    hello = reframe(out.read(), 7)
    s = connect(addr, timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for i in range(len(hello)):
        s.sendall(hello[i:i + 1])
        time.sleep(0.001)
    deadline = time.monotonic() + 10
    while True:
        try:
            obj.do_handshake()
            break
        except _ssl.SSLWantReadError:
            pend = out.read()
            if pend:
                s.sendall(pend)
            t.check(time.monotonic() < deadline, "handshake in time")
            data = s.recv(65536)
            t.check(data, "EOF during the handshake")
            inc.write(data)
    t.eq(obj.getpeercert(binary_form=True), cert_der(b_pem), "7-byte records")
    s.close()
    t.check(p.wait_stderr(r"sni=y\.b\.example\.com route=0 pool=b "), "routed by name")


run(test)
