"""allow / deny per listener: clients are told apart by their 127.0.0.x
source address; deny wins over allow; with allow set, everything else is
refused; IPv6 too (an IPv6 prefix, even ::/0, never matches an IPv4
client); behind accept_proxy the lists apply to the PROXY
header's source.  A refused client gets a reset at once and never reaches
a server; refusals are logged at most a few times per second."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from proxylib import *

CFG = """\
global:
  workers: 2
listeners:
  both:
    bind: "127.0.0.1:%(p1)d"
    pool: p
    allow: [127.0.0.0/29, 127.0.0.64/26]
    deny: [127.0.0.3, 127.0.0.100]
  denyonly:
    bind: ["127.0.0.1:%(p2)d"%(bind6)s]
    pool: p
    deny: [127.0.0.4/30, "::1"]
  allow6:
    bind: ["127.0.0.1:%(p3)d"%(bind6b)s]
    pool: p
    allow: ["::1/128"]
  no6:
    bind: ["127.0.0.1:%(p5)d"%(bind6c)s]
    pool: p
    deny: ["::/0"]
  proxied:
    bind: "127.0.0.1:%(p4)d"
    pool: p
    accept_proxy: true
    trusted: [127.0.0.0/8]
    allow: [198.51.100.0/24, 2001:db8::/32]
    deny: [198.51.100.66]
pools:
  p:
    servers: ["%(be)s"]
"""


def served(t, addr, source=None, header=b""):
    """True when the identify backend answered, False on a reset/close."""
    try:
        s = connect(addr, source=source)
    except ConnectionResetError:
        return False
    try:
        if header:
            s.sendall(header)
        line = recv_line(s, 3)
        return line == "A"
    except OSError:
        return False
    finally:
        s.close()


def refused_fast(t, addr, source=None):
    t0 = time.monotonic()
    try:
        s = connect(addr, source=source)
    except ConnectionResetError:
        return time.monotonic() - t0
    got, how = recv_until_eof(s, timeout=3)
    s.close()
    t.eq(how, "reset", "refused from %s" % source)
    t.eq(got, b"")
    return time.monotonic() - t0


def test(t):
    be = t.identify_backend("A")
    p1, p2, p3, p4 = (free_port() for _ in range(4))
    six = have_ipv6()
    p6, p6b, p6c = (free_port("::1"), free_port("::1"), free_port("::1")) if six else (0, 0, 0)
    p5 = free_port()
    params = dict(p1=p1, p2=p2, p3=p3, p4=p4, p5=p5, be=be.hostport,
                  bind6=(', "[::1]:%d"' % p6) if six else "",
                  bind6b=(', "[::1]:%d"' % p6b) if six else "",
                  bind6c=(', "[::1]:%d"' % p6c) if six else "")
    lb = t.start_config(CFG % params)
    try:
        connect(("127.0.0.1", p2), source="127.0.0.200").close()
    except OSError as e:
        raise Skip("cannot bind to 127.0.0.200: %r" % e)

    a1 = ("127.0.0.1", p1)
    for src, want in (("127.0.0.1", True), ("127.0.0.2", True), ("127.0.0.3", False),
                      ("127.0.0.7", True), ("127.0.0.8", False), ("127.0.0.63", False),
                      ("127.0.0.64", True), ("127.0.0.99", True), ("127.0.0.100", False),
                      ("127.0.0.127", True), ("127.0.0.128", False), ("127.1.0.1", False)):
        t.eq(served(t, a1, src), want, "listener both, client %s" % src)

    a2 = ("127.0.0.1", p2)
    for src, want in (("127.0.0.3", True), ("127.0.0.4", False), ("127.0.0.7", False),
                      ("127.0.0.8", True)):
        t.eq(served(t, a2, src), want, "listener denyonly, client %s" % src)

    # deny ::/0 refuses IPv6 clients only, as in nginx (issue 22, item 10)
    t.eq(served(t, ("127.0.0.1", p5)), True, "deny ::/0, IPv4 client")
    if six:
        t.eq(served(t, ("::1", p6c)), False, "deny ::/0, client ::1")

    # allow only ::1: an IPv4 client is refused; an IPv6 client served
    t.eq(served(t, ("127.0.0.1", p3)), False, "allow ::1 only, IPv4 client")
    if six:
        t.eq(served(t, ("::1", p6b)), True, "allow ::1, client ::1")
        t.eq(served(t, ("::1", p6)), False, "deny ::1, client ::1")

    # behind a proxy: the header's source is checked
    a4 = ("127.0.0.1", p4)
    t.eq(served(t, a4, header=v1("198.51.100.5", 1, "192.0.2.1", 80)), True, "proxied allowed")
    t.eq(served(t, a4, header=v2("2001:db8::5", 1, "2001:db8::1", 80)), True, "proxied v6 allowed")
    # (refusal records are rate-limited per second: start a new second)
    time.sleep(1.1)
    t.eq(served(t, a4, header=v1("198.51.100.66", 1, "192.0.2.1", 80)), False, "proxied denied")
    t.eq(served(t, a4, header=v1("203.0.113.1", 1, "192.0.2.1", 80)), False, "proxied not allowed")
    # LOCAL keeps the real peer 127.0.0.1, which is not in allow
    t.eq(served(t, a4, header=v2_local()), False, "LOCAL from a proxy not in allow")
    t.check(lb.wait_stderr(r"refused 198\.51\.100\.66:1: address in deny"), "log names the header's client")
    t.check(lb.wait_stderr(r"refused 203\.0\.113\.1:1: address not in allow"), "not-in-allow logged")

    # refused at once, no backend work
    accepted = be.stats()["accepted"]
    took = max(refused_fast(t, a1, "127.0.0.3") for _ in range(5))
    t.check(took < 0.5, "refusal took %.2fs" % took)
    time.sleep(0.1)
    t.eq(be.stats()["accepted"], accepted, "a refused client reached the server")

    # a flood of refusals is logged a few times per second, not each
    before = len(re.findall(r"refused 127\.0\.0\.3:", lb.stderr()))
    t0 = time.monotonic()
    for _ in range(300):
        try:
            s = connect(a1, source="127.0.0.3")
            s.close()
        except OSError:
            pass
    secs = time.monotonic() - t0
    lines = len(re.findall(r"refused 127\.0\.0\.3:", lb.stderr())) - before
    # the next refusal in a later second says how many were suppressed
    time.sleep(1.1)
    for _ in range(2):
        refused_fast(t, a1, "127.0.0.3")
    t.check(lb.wait_stderr(r"refused 127\.0\.0\.3:\d+: address in deny \(\d+ similar messages? suppressed\)"),
            "no '(N similar messages suppressed)' record")

    # a reload swaps the lists in one step: 127.0.0.3 allowed, .2 denied
    held = connect(a1, source="127.0.0.2")
    t.add_closer(held)
    t.eq(recv_line(held, 3), "A")
    t.reload(lb, (CFG % params).replace("deny: [127.0.0.3, 127.0.0.100]",
                                        "deny: [127.0.0.2, 127.0.0.100]"))
    t.eq(served(t, a1, "127.0.0.3"), True, "127.0.0.3 after the reload")
    t.eq(served(t, a1, "127.0.0.2"), False, "127.0.0.2 after the reload")
    t.check(t.echo_ok(held, b"still"), "a connection open across the reload")
    # 10 per second in all, plus the window in progress
    t.log("300 refusals in %.2fs: %d log lines" % (secs, lines))
    t.check(lines <= 10 * (secs + 2), "%d refusal log lines in %.1fs" % (lines, secs))


run(test)
