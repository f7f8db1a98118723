"""TLS routing behind a PROXY protocol header (accept_proxy): the header
is read first and consumed, then the ClientHello routes; the backend gets
the hello alone, unchanged; the access log shows the header's client and
the server name.  v1 and v2 headers, a hello in the same segment as the
header or trickling in after it, and a real handshake with s_server.
A client the header names as denied is reset right after the header,
before it sends a hello."""
from lib import *
from tlsutil import *


def v2_header(src, sport, dst, dport):
    addrs = (socket.inet_aton(src) + socket.inet_aton(dst) +
             sport.to_bytes(2, "big") + dport.to_bytes(2, "big"))
    return (b"\r\n\r\n\x00\r\nQUIT\n" + b"\x21\x11" +
            len(addrs).to_bytes(2, "big") + addrs)


def test(t):
    have_openssl()
    a_pem, a_key = make_cert(t, "a", ["a.example.com"])
    A = SServer(t, "A", a_pem, a_key)
    N = t.identify_backend("NAMED")
    F = t.identify_backend("FALLBACK")
    port = free_port()
    p = t.start_config("""
global: { access_log: true }
pools:
  a: { servers: [%s] }
  named: { servers: [%s] }
  fallback: { servers: [%s] }
listeners:
  edge:
    bind: 127.0.0.1:%d
    pool: fallback
    accept_proxy: true
    trusted: ["127.0.0.0/8"]
    inspect_timeout: 2s
    deny: ["203.0.113.0/24"]
    routes:
      - { sni: a.example.com, pool: a }
      - { sni: named.example.com, pool: named }
""" % (A.hostport, N.hostport, F.hostport, port))
    addr = ("127.0.0.1", port)

    hello = client_hello("named.example.com")
    # v1 header and hello in one segment
    s = connect(addr)
    s.sendall(b"PROXY TCP4 192.0.2.7 127.0.0.1 5555 443\r\n" + hello)
    t.eq(recv_line(s), "NAMED", "v1 + hello")
    t.eq(recv_exact(s, len(hello)), hello, "the backend got the hello alone, unchanged")
    s.close()
    t.check(p.wait_stderr(r"192\.0\.2\.7:5555 listener=edge sni=named\.example\.com route=1 "
                          r"pool=named "), "access log: the header's client, the name")

    # v2 header, then the hello a few bytes at a time
    s = connect(addr)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(v2_header("198.51.100.9", 4444, "127.0.0.1", 443))
    for i in range(0, len(hello), 50):
        time.sleep(0.01)
        s.sendall(hello[i:i + 50])
    t.eq(recv_line(s), "NAMED", "v2 + trickled hello")
    t.eq(recv_exact(s, len(hello)), hello)
    s.close()
    t.check(p.wait_stderr(r"198\.51\.100\.9:4444 listener=edge sni=named\.example\.com route=1 "),
            "access log after a v2 header")

    # not TLS after the header: the listener's pool
    s = connect(addr)
    s.sendall(b"PROXY TCP4 192.0.2.8 127.0.0.1 5556 443\r\nhello\n")
    t.eq(recv_line(s), "FALLBACK")
    t.eq(recv_line(s), "hello")
    s.close()

    # a real handshake behind the header
    import ssl
    ctx = ssl.create_default_context(cafile=a_pem)
    ctx.check_hostname = False
    s = connect(addr, timeout=5)
    s.sendall(b"PROXY TCP4 192.0.2.9 127.0.0.1 5557 443\r\n")
    ts = ctx.wrap_socket(s, server_hostname="a.example.com")
    t.eq(ts.getpeercert(binary_form=True), cert_der(a_pem))
    ts.close()

    # header, then silence: closed after inspect_timeout in the TLS phase
    s = connect(addr, timeout=5)
    s.sendall(b"PROXY TCP4 192.0.2.10 127.0.0.1 5558 443\r\n")
    t0 = time.monotonic()
    got, how = recv_until_eof(s, timeout=5)
    s.close()
    t.eq(got, b"")
    t.check(1.8 <= time.monotonic() - t0 <= 4.5, "closed after inspect_timeout")
    t.check(p.wait_stderr(r"refused 192\.0\.2\.10:5558: .*no complete TLS ClientHello "
                          r"before inspect_timeout"), "timeout names the real client")

    # a denied client is reset right after its header, before any hello
    # (not after inspect_timeout, not counted as a TLS outcome)
    s = connect(addr, timeout=5)
    s.sendall(b"PROXY TCP4 203.0.113.5 127.0.0.1 5559 443\r\n")
    t0 = time.monotonic()
    got, how = recv_until_eof(s, timeout=5)
    dt = time.monotonic() - t0
    s.close()
    t.eq((got, how), (b"", "reset"), "denied after the header")
    t.check(dt < 1.0, "denied client held %.2fs (inspect_timeout is 2s)" % dt)
    t.check(p.wait_stderr(r"refused 203\.0\.113\.5:5559: address in deny"),
            "the refusal names the header's client")


run(test)
