"""TLS routing: what is closed, and when.  A listener without a pool
closes what no route matches (an unknown name, no TLS at all); a
malformed hello, one over 16 KiB, or one whose records do not fit the
inspection buffer is closed at once, even where a fallback pool exists;
a silent or stalled client is closed after inspect_timeout, and costs no
CPU while it waits.  Nothing of these reaches a server, and each reason
is logged."""
from lib import *
from tlsutil import *


def closed(t, addr, data, what, timeout=5.0):
    """Send data, expect tcplb to close without a byte; returns the
    seconds it took."""
    s = connect(addr)
    t0 = time.monotonic()
    if data:
        s.sendall(data)
    got, how = recv_until_eof(s, timeout=timeout)
    s.close()
    t.eq(got, b"", what + ": nothing comes back")
    t.check(how in ("eof", "reset"), "%s: closed (got %s)" % (what, how))
    return time.monotonic() - t0


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        f = f.read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])


def test(t):
    A = t.identify_backend("A")
    F = t.identify_backend("FALLBACK")
    sp, fp = free_port(), free_port()
    p = t.start_config("""
pools:
  a: { servers: [%s] }
  fallback: { servers: [%s] }
listeners:
  strict:
    bind: 127.0.0.1:%d
    inspect_timeout: 600ms
    routes:
      - { sni: a.example.com, pool: a }
  open:
    bind: 127.0.0.1:%d
    pool: fallback
    inspect_timeout: 600ms
    routes:
      - { sni: a.example.com, pool: a }
""" % (A.hostport, F.hostport, sp, fp))
    strict, open_ = ("127.0.0.1", sp), ("127.0.0.1", fp)

    good = client_hello("a.example.com")
    s = connect(strict)
    s.sendall(good)
    t.eq(recv_line(s), "A", "a matching name on the pool-less listener")
    s.close()
    t.eq(A.accepted, 1)

    # no pool: unmatched and not-TLS connections are closed
    closed(t, strict, client_hello("b.example.com"), "unknown name")
    closed(t, strict, client_hello(None), "no name")
    closed(t, strict, b"GET / HTTP/1.0\r\n\r\n", "not TLS")
    t.check(p.wait_stderr(r"listener strict: refused 127\.0\.0\.1:\d+: no route matched "
                          r"and the listener has no pool \(no route matched\)"),
            "no-route refusal logged")
    t.check(p.wait_stderr(r"listener strict: refused .*\(not TLS\)"), "not-TLS refusal logged")
    t.check(p.wait_stderr(r"listener=strict sni=b\.example\.com route=- pool=- server=- "),
            "access log of the refused connection names the server name")

    # malformed: closed at once even with a fallback pool
    bad = bytearray(good)
    off = ext_len_offset(bad)
    bad[off + 1] ^= 1
    dt = closed(t, open_, bytes(bad), "malformed extensions length")
    t.check(dt < 0.5, "malformed hello closed at once (%.2fs)" % dt)
    t.check(p.wait_stderr(r"refused .*no valid TLS ClientHello \(extensions length does "
                          r"not match the ClientHello length\)"), "malformed reason logged")
    # over 16 KiB: known from the handshake header, closed at once
    big = b"\x16\x03\x01\x00\x10\x01\x00\x50\x00" + bytes(11)
    dt = closed(t, open_, big, "20 KiB hello")
    t.check(dt < 0.5, "oversized hello closed at once (%.2fs)" % dt)
    t.check(p.wait_stderr(r"ClientHello longer than 16 KiB"), "too-big reason logged")
    # a valid 5 KiB hello in one-byte records does not fit the buffer
    tiny = reframe(padded_hello("a.example.com", 5000), 1)
    closed(t, open_, tiny, "5 KiB hello in 1-byte records")
    t.check(p.wait_stderr(r"ClientHello records do not fit in the inspection buffer"),
            "buffer bound logged")
    # ...while the same hello in 100-byte records routes
    s = connect(open_)
    s.sendall(reframe(padded_hello("a.example.com", 5000), 100))
    t.eq(recv_line(s), "A", "5 KiB hello over 50 records")
    s.close()
    # the client gives up halfway
    s = connect(open_)
    s.sendall(good[:40])
    s.shutdown(socket.SHUT_WR)
    got, how = recv_until_eof(s)
    s.close()
    t.eq(got, b"")
    t.check(p.wait_stderr(r"client closed inside the ClientHello"), "half hello logged")
    t.eq(F.accepted, 0, "the fallback pool saw none of these")

    # silent, and stalled after part of the hello: closed after
    # inspect_timeout (600ms), not before, not much after; no CPU spent
    held = []
    for i in range(20):
        s = connect(open_, timeout=5)
        if i % 2:
            s.sendall(good[:30])
        held.append(s)
    t0 = time.monotonic()
    ticks0 = cpu_ticks(p.pid)
    for s in held:
        got, how = recv_until_eof(s, timeout=5)
        t.eq(got, b"")
        t.check(how in ("eof", "reset"), "closed after inspect_timeout (%s)" % how)
    dt = time.monotonic() - t0
    ticks = cpu_ticks(p.pid) - ticks0
    for s in held:
        s.close()
    t.check(0.5 <= dt <= 3.0, "closed after inspect_timeout: %.2fs" % dt)
    t.check(ticks <= 20, "waiting clients cost %d CPU ticks" % ticks)
    t.check(p.wait_stderr(r"no complete TLS ClientHello before inspect_timeout"),
            "timeout reason logged")
    t.eq(F.accepted, 0)
    t.eq(A.accepted, 2)
    t.check(p.alive(), "tcplb still running")


run(test)
