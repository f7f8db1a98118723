"""accept_proxy: a PROXY header from a trusted peer makes its source the
client address -- in the header tcplb sends on, the access log and source
balancing -- for v1, v2, IPv6, a header split byte by byte, with data in the
same segment; v2 LOCAL and v1 UNKNOWN keep the real peer; an untrusted
peer, a missing, malformed or truncated header, and a header slower than
inspect_timeout are reset with a logged reason."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from proxylib import *

CFG = """\
global:
  workers: 2
  access_log: true
listeners:
  front:
    bind: ["127.0.0.1:%(port)d"%(bind6)s]
    pool: p
    accept_proxy: true
    trusted: [127.0.0.1/32, "::1"]
    inspect_timeout: 1s
  other:
    bind: "127.0.0.1:%(port2)d"
    pool: p
    accept_proxy: true
    trusted: [127.0.0.2]
  hashed:
    bind: "127.0.0.1:%(port3)d"
    pool: src
    accept_proxy: true
    trusted: [127.0.0.1]
pools:
  p:
    proxy_protocol: v1
    servers: ["%(backend)s"]
  src:
    balance: source
    servers: ["%(ida)s", "%(idb)s"]
"""


def ask(t, addr, data, chunks=None, source=None):
    """Send data (or chunks, one per segment), read the backend's line."""
    s = connect(addr, source=source)
    t.add_closer(s)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if chunks:
        for c in chunks:
            s.sendall(c)
            time.sleep(0.003)
    else:
        s.sendall(data)
    line = recv_line(s, 5)
    return s, line


def refused(t, addr, data, expect_within=2.0, close=False, source=None):
    t0 = time.monotonic()
    try:
        s = connect(addr, source=source)
        t.add_closer(s)
        if data:
            s.sendall(data)
        if close:
            s.shutdown(socket.SHUT_WR)
    except (ConnectionResetError, BrokenPipeError):
        # the reset came before our bytes went out: EPIPE on the send
        return "reset", time.monotonic() - t0
    got, how = recv_until_eof(s, timeout=expect_within + 2)
    took = time.monotonic() - t0
    t.eq(got, b"", "bytes from a refused connection")
    t.check(how in ("reset", "eof"), "refused connection not closed (%s)" % how)
    return how, took


def logged(t, lb, pattern):
    t.check(lb.wait_stderr(pattern), "not logged: %s" % pattern)


def test(t):
    be = t.thread_backend(header_handler, name="hb")
    six = have_ipv6()
    ida, idb = t.identify_backend("A"), t.identify_backend("B")
    port, port2, port3 = free_port(), free_port(), free_port()
    port6 = free_port("::1") if six else 0
    lb = t.start_config(CFG % dict(port=port, port2=port2, port3=port3, backend=be.hostport,
                                   ida=ida.hostport, idb=idb.hostport,
                                   bind6=(', "[::1]:%d"' % port6) if six else ""))
    addr = ("127.0.0.1", port)

    # v1: header + data in one segment; data reaches the server unchanged
    # after tcplb's own header naming the header's client.
    s, line = ask(t, addr, v1("192.0.2.10", 4242, "198.51.100.1", 443) + b"hello")
    t.eq(line, "v1 192.0.2.10 4242 198.51.100.1 443")
    t.eq(recv_exact(s, 5), b"hello")
    t.check(t.echo_ok(s, b"more"), "relay after the header")

    # v2 with TLVs, IPv4
    tlv = b"\x01\x00\x02h2" + b"\x02\x00\x0bexample.com"
    s, line = ask(t, addr, v2("203.0.113.7", 1000, "203.0.113.8", 80, tlv) + b"x")
    t.eq(line, "v1 203.0.113.7 1000 203.0.113.8 80")
    t.eq(recv_exact(s, 1), b"x")

    # v2 IPv6 over an IPv4 connection
    s, line = ask(t, addr, v2("2001:db8::7", 5555, "2001:db8::1", 443))
    t.eq(line, "v1 2001:db8::7 5555 2001:db8::1 443")
    # v1 TCP6
    s, line = ask(t, addr, v1("2001:db8::9", 1, "2001:db8::1", 2))
    t.eq(line, "v1 2001:db8::9 1 2001:db8::1 2")

    # split across segments, one byte at a time
    hdr = v1("192.0.2.77", 7777, "192.0.2.1", 80) + b"tail"
    s, line = ask(t, addr, None, chunks=[hdr[i:i + 1] for i in range(len(hdr))])
    t.eq(line, "v1 192.0.2.77 7777 192.0.2.1 80")
    t.eq(recv_exact(s, 4), b"tail")
    hdr = v2("192.0.2.78", 7778, "192.0.2.1", 80) + b"tail"
    s, line = ask(t, addr, None, chunks=[hdr[:5], hdr[5:14], hdr[14:20], hdr[20:]])
    t.eq(line, "v1 192.0.2.78 7778 192.0.2.1 80")

    # LOCAL and UNKNOWN: the real peer (127.0.0.1) is the client
    s, line = ask(t, addr, v2_local() + b"L")
    t.check(line.startswith("v1 127.0.0.1 "), "v2 LOCAL: %r" % line)
    t.eq(recv_exact(s, 1), b"L")
    s, line = ask(t, addr, b"PROXY UNKNOWN\r\nU")
    t.check(line.startswith("v1 127.0.0.1 "), "v1 UNKNOWN: %r" % line)

    # IPv6 listener, IPv6 peer
    if six:
        s, line = ask(t, ("::1", port6), v1("192.0.2.66", 66, "192.0.2.1", 80))
        t.eq(line, "v1 192.0.2.66 66 192.0.2.1 80")

    # the access log names the header's client (written at close)
    for c in t.closers:
        if isinstance(c, socket.socket):
            c.close()
    t.check(lb.wait_stderr(r"192\.0\.2\.10:4242 listener=front"), "access log")
    t.check(lb.wait_stderr(r"\[2001:db8::7\]:5555 listener=front"), "access log v6")

    accepted = be.accepted
    # missing header (plain data), malformed, truncated by EOF
    refused(t, addr, b"GET / HTTP/1.0\r\n\r\n")
    logged(t, lb, r"refused 127\.0\.0\.1:\d+: bad PROXY header \(no PROXY protocol header\)")
    refused(t, addr, b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\n")
    logged(t, lb, r"bad v1 source port")
    refused(t, addr, b"PROXY TCP4 1.2.3.4 5.6.7.8 1 1\n")
    refused(t, addr, V2_SIG + b"\x21\x11\x00\x05abcde")
    logged(t, lb, r"v2 address block shorter")
    refused(t, addr, b"PROXY TCP4 1.2.3.4", close=True)
    logged(t, lb, r"PROXY header truncated \(client closed\)")
    refused(t, addr, b"", close=True)
    logged(t, lb, r"client closed before the PROXY header")

    # slow: half a header, then silence; reset after inspect_timeout
    how, took = refused(t, addr, b"PROXY TCP4 1.2.3.4 ")
    t.check(0.9 <= took <= 2.5, "slow header closed after %.2fs (inspect_timeout 1s)" % took)
    logged(t, lb, r"no complete PROXY header before inspect_timeout")
    how, took = refused(t, addr, b"")
    t.check(0.9 <= took <= 2.5, "silent client closed after %.2fs" % took)

    # untrusted peer (listener 'other' trusts 127.0.0.2 only): reset at
    # accept, even with a well-formed header
    how, took = refused(t, ("127.0.0.1", port2), v1("192.0.2.1", 1, "192.0.2.2", 2))
    t.eq(how, "reset", "untrusted peer")
    t.check(took < 1.0, "untrusted peer refused after %.2fs" % took)
    logged(t, lb, r"listener other: refused 127\.0\.0\.1:\d+: peer not in trusted")
    # none of the refused connections reached the backend
    time.sleep(0.2)
    t.eq(be.accepted, accepted, "refused connections reached the backend")
    try:
        s, line = ask(t, ("127.0.0.1", port2), v1("192.0.2.5", 5, "192.0.2.2", 2),
                      source="127.0.0.2")
        t.eq(line, "v1 192.0.2.5 5 192.0.2.2 2", "trusted 127.0.0.2")
    except OSError as e:
        t.log("cannot bind 127.0.0.2: %r" % e)
    # source balancing hashes the header's client, not the proxy
    seen = {}
    for i in range(24):
        names = set()
        for j in range(3):
            s = connect(("127.0.0.1", port3))
            s.sendall(v1("198.51.100.%d" % (i + 1), 1000 + j, "192.0.2.1", 80))
            names.add(recv_line(s, 3))
            s.close()
        t.eq(len(names), 1, "header source 198.51.100.%d reached %s" % (i + 1, names))
        seen[i] = names.pop()
    t.check(set(seen.values()) == {"A", "B"}, "24 header sources all on %s" % set(seen.values()))
    t.check(not be.errors, "backend errors: %s" % be.errors)


run(test)
