"""Transparent mode, `source: client` (issue 27), in network namespaces.

    client (c) --c2t/t2c--> tcplb (t) --t2d/d2t--> servers (d)
    10.88.1.2               10.88.1.1   10.88.2.1   10.88.2.2
    fd88:1::2               fd88:1::1   fd88:2::1   fd88:2::2

The servers' default route leads back through t, as transparent mode needs;
t runs contrib/transparent/tcplb-transparent (nftables + policy routes).
The servers answer "PEER_IP PEER_PORT" and then echo.

Asserts, for IPv4 and IPv6: the server sees the client's own address and
port; 1 MiB goes through both ways intact (sha256).  Then the documented
errors: without CAP_NET_RAW/CAP_NET_ADMIN tcplb refuses to start and says so; with the
routes removed `tcplb-transparent check` lists what is missing and a
reload warns that replies will not come back."""
import sys, os, hashlib, re, shutil, signal, socket, subprocess, threading
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from netns import Lab, sh

PORT = 8000
SPORT = 9000
CFG = """\
global:
  admin_socket: %(sock)s
  shutdown_timeout: 2s
  access_log: true
listeners:
  v4: {bind: "10.88.1.1:%(port)d", pool: app4}
  v6: {bind: "[fd88:1::1]:%(port)d", pool: app6}
  cross: {bind: "[fd88:1::1]:%(xport)d", pool: app4}
  again: {bind: "10.88.1.1:%(xport)d", pool: app4}
  u4: {bind: "10.88.1.1:%(uport)d", protocol: udp, pool: udp4}
defaults:
  connect_timeout: 3s
  retries: 0
pools:
  app4:
    source: client
    servers: ["10.88.2.2:%(sport)d"]
  app6:
    servers:
      - {address: "[fd88:2::2]:%(sport)d", source: client}
  udp4:
    source: client
    servers: ["10.88.2.2:%(sport)d"]
"""


def tell_peer(conn, backend):
    peer = conn.getpeername()
    conn.sendall(("%s %d\n" % (peer[0], peer[1])).encode())
    while True:
        data = conn.recv(65536)
        if not data:
            return
        conn.sendall(data)


def udp_tell_peer(sock, stop):
    """A UDP server: answers each datagram with "PEER_IP PEER_PORT"."""
    sock.settimeout(0.2)
    while not stop.is_set():
        try:
            data, peer = sock.recvfrom(2048)
        except socket.timeout:
            continue
        sock.sendto(("%s %d" % (peer[0], peer[1])).encode(), peer)


def refused(s, addr):
    """Connect and read to the end: "reset" when tcplb refused (the reset
    may beat connect() returning), else what came."""
    try:
        s.connect(addr)
        data, how = recv_until_eof(s, 5)
    except ConnectionResetError:
        return "reset"
    return how if not data else data


def topology(lab):
    c, t, d = (lab.ns(x) for x in ("c", "t", "d"))
    for ns in (c, t, d):        # link-local addresses usable at once (ND)
        lab.sysctl(ns, "net.ipv6.conf.default.accept_dad", 0)
    lab.veth(c, "c2t", "10.88.1.2/24", t, "t2c", "10.88.1.1/24")
    lab.veth(t, "t2d", "10.88.2.1/24", d, "d2t", "10.88.2.2/24")
    lab.ip(c, "addr", "add", "fd88:1::2/64", "dev", "c2t", "nodad")
    lab.ip(t, "addr", "add", "fd88:1::1/64", "dev", "t2c", "nodad")
    lab.ip(t, "addr", "add", "fd88:2::1/64", "dev", "t2d", "nodad")
    lab.ip(d, "addr", "add", "fd88:2::2/64", "dev", "d2t", "nodad")
    for ns, v4, v6 in ((c, "10.88.1.1", "fd88:1::1"), (d, "10.88.2.1", "fd88:2::1")):
        lab.ip(ns, "route", "add", "default", "via", v4)
        lab.ip(ns, "-6", "route", "add", "default", "via", v6)
    return c, t, d


def start(t, lab, ns, name, argv0_extra=(), plain=False):
    sock = t.path(name + ".sock")
    text = CFG % dict(sock=sock, port=PORT, xport=PORT + 1, uport=PORT + 2, sport=SPORT)
    if plain:
        text = text.replace(", source: client}", "}").replace(
            "source: client", "source: 10.88.2.1")
    cfg = t.write(name + ".yaml", text)
    if t.notify is None:
        t.notify_receiver()
    first = t.notify.count()
    p = t.start(["-c", cfg, "--log-target", "stderr", "-w", "2"], name=name,
                env={"NOTIFY_SOCKET": t.notify.path},
                argv0=lab.exec_argv(ns, list(argv0_extra) + [t.bin]))
    p.cfg, p.sock, p.first = cfg, sock, first
    return p


def test(t):
    if shutil.which("nft") is None:
        raise Skip("no nft command (package nftables)")
    lab = Lab(t)
    c, tl, d = topology(lab)
    script = os.path.join(t.srcdir, "contrib", "transparent", "tcplb-transparent")
    with lab.inside(d):
        t.thread_backend(tell_peer, name="s4", host="10.88.2.2", port=SPORT)
        t.thread_backend(tell_peer, name="s6", host="fd88:2::2", port=SPORT)
        us = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    us.bind(("10.88.2.2", SPORT))
    t.add_closer(us)
    ustop = threading.Event()
    uth = threading.Thread(target=udp_tell_peer, args=(us, ustop), daemon=True)
    uth.start()

    # The check names every missing piece before the setup...
    r = subprocess.run(lab.exec_argv(tl, ["sh", script, "check"]), capture_output=True,
                       text=True, timeout=10)
    t.eq(r.returncode, 1, "check before setup: " + r.stdout)
    for what in ("nftables table inet tcplb_transparent", "IPv4 policy rule",
                 "IPv4 local route", "IPv6 policy rule", "IPv6 local route"):
        t.check(("missing: " + what) in r.stdout, "check names %r: %s" % (what, r.stdout))
    # ...and nothing after it.
    sh(*lab.exec_argv(tl, ["sh", script, "start"]))
    r = subprocess.run(lab.exec_argv(tl, ["sh", script, "check"]), capture_output=True,
                       text=True, timeout=10)
    t.eq(r.returncode, 0, "check after setup: " + r.stdout)

    # Without CAP_NET_RAW and CAP_NET_ADMIN: refused at start, saying why;
    # a reload that brings `source: client` in is refused the same way and
    # the running configuration keeps serving.
    if shutil.which("setpriv"):
        nocap = ["setpriv", "--bounding-set=-net_admin,-net_raw"]
        p = start(t, lab, tl, "nocap", nocap)
        rc = p.wait(10)
        t.eq(rc, 1, "tcplb without the capability exits 1")
        t.check(re.search(r"source: client needs CAP_NET_RAW \(or CAP_NET_ADMIN\) .*IP_TRANSPARENT: "
                          r"Operation not permitted", p.stderr()),
                "the start error names the capability: %s" % p.stderr()[-500:])
        p = start(t, lab, tl, "nocap2", nocap, plain=True)
        t.check(t.notify.wait_for("READY=1", start=p.first, timeout=10) is not None,
                "tcplb without the capability starts without source: client")
        t.write("nocap2.yaml", CFG % dict(sock=p.sock, port=PORT, xport=PORT + 1,
                                          uport=PORT + 2, sport=SPORT))
        msgs = t.reload(p)
        t.check(any("source: client needs CAP_NET_RAW" in m for m in msgs),
                "the reload's STATUS names the capability: %s" % msgs)
        with lab.inside(c):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(("10.88.1.1", PORT))
        line = recv_line(s, 5)
        t.check(line is not None and not line.startswith("10.88.1.2 "),
                "the old configuration keeps serving, from tcplb's own address: %r" % line)
        s.close()
        p.signal(signal.SIGTERM)
        t.eq(p.wait(8), 0, "stops cleanly")

    lb = start(t, lab, tl, "lb")
    t.check(t.notify.wait_for("READY=1", start=lb.first, timeout=10) is not None,
            "tcplb ready: %s" % lb.stderr()[-500:])
    t.check("no policy route" not in lb.stderr(), "no route warning with the setup in place")

    blob = os.urandom(1 << 20)
    want = hashlib.sha256(blob).hexdigest()
    for fam, dst, src in ((socket.AF_INET, "10.88.1.1", "10.88.1.2"),
                          (socket.AF_INET6, "fd88:1::1", "fd88:1::2")):
        with lab.inside(c):
            s = socket.socket(fam, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect((dst, PORT))
        me = s.getsockname()
        line = recv_line(s, 5)
        t.eq(line, "%s %d" % (me[0], me[1]),
             "the server sees the client's own address and port (%s)" % src)
        got = bytearray()

        def reader():
            while len(got) < len(blob):
                b = s.recv(65536)
                if not b:
                    return
                got.extend(b)
        th = threading.Thread(target=reader)
        th.start()
        s.sendall(blob)
        th.join(15)
        t.eq(hashlib.sha256(bytes(got)).hexdigest(), want, "1 MiB echoed intact (%s)" % src)
        s.close()
        t.log("%s: server saw %s:%d, sha256 ok" % (src, me[0], me[1]))

    # Many at once: 400 connections, each seen with its own address and port.
    held = []
    for i in range(400):
        with lab.inside(c):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(("10.88.1.1", PORT))
        held.append(s)
    for s in held:
        me = s.getsockname()
        t.eq(recv_line(s, 5), "%s %d" % me, "concurrent session sees its client")
        s.close()
    t.log("400 concurrent sessions each seen from their own client address and port")

    # UDP flows too: the server sees the client's own address and port, and
    # the answer comes back to the client from the address it sent to.
    for i in range(3):
        with lab.inside(c):
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.settimeout(5)
        u.bind(("10.88.1.2", 0))
        u.sendto(b"who am i", ("10.88.1.1", PORT + 2))
        data, frm = u.recvfrom(2048)
        t.eq(data.decode(), "%s %d" % u.getsockname(),
             "the UDP server sees the client's own address and port")
        t.eq(frm, ("10.88.1.1", PORT + 2), "the answer comes from the listener")
        u.close()
    t.log("UDP flows: the server saw each client's own address and port")
    ustop.set()

    # The same client address and port to two listeners of one server: the
    # second connection cannot exist (same 4-tuple); said, not held against
    # the server.
    with lab.inside(c):
        s1 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s2 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    for x in (s1, s2):
        x.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        x.settimeout(5)
    s1.bind(("10.88.1.2", 0))
    s2.bind(s1.getsockname())
    s1.connect(("10.88.1.1", PORT))
    t.eq(recv_line(s1, 5), "%s %d" % s1.getsockname(), "first connection")
    t.eq(refused(s2, ("10.88.1.1", PORT + 1)), "reset", "the duplicate is refused")
    t.check(lb.wait_stderr(r"no local address to connect to app4/.* from the client's address "
                           r"and port: they are in use toward this server already", timeout=5),
            "the duplicate's reason is logged: %s" % lb.stderr()[-600:])
    s1.close()
    s2.close()

    # An IPv6 client cannot be the source toward an IPv4 server: said, and
    # not held against the server.
    with lab.inside(c):
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.settimeout(5)
    t.eq(refused(s, ("fd88:1::1", PORT + 1)), "reset",
         "an IPv6 client to an IPv4 server is refused")
    s.close()
    t.check(lb.wait_stderr(r"source: client, but the client's address family is not "
                           r"the server's", timeout=5),
            "the reason is logged: %s" % lb.stderr()[-600:])
    servers = admin_json(lb.sock, "show servers app4")["servers"]
    t.eq([(x["health"], sum(x["connect_failures"].values())) for x in servers],
         [("up", 0)], "not held against the server")

    # Routes gone: the check says what, and a reload warns.
    sh(*lab.exec_argv(tl, ["sh", script, "stop"]))
    r = subprocess.run(lab.exec_argv(tl, ["sh", script, "check"]), capture_output=True,
                       text=True, timeout=10)
    t.eq(r.returncode, 1, "check after stop")
    mark = len(lb.stderr())
    t.reload(lb)
    t.check(lb.wait_stderr(r"source: client \(IPv4\): no policy route delivers replies",
                           start=mark, timeout=5),
            "reload warns of the missing IPv4 route: %s" % lb.stderr()[mark:])
    t.check(lb.wait_stderr(r"source: client \(IPv6\): no policy route", start=mark,
                           timeout=5), "reload warns of the missing IPv6 route")
    # and it was true: the server's answers no longer reach tcplb
    with lab.inside(c):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5)
    t.eq(refused(s, ("10.88.1.1", PORT)), "reset",
         "no greeting without the routes back: refused")
    s.close()
    t.check(lb.wait_stderr(r"10\.88\.1\.2:\d+ listener=v4 pool=app4 server=\S+ .*tries=1 "
                           r"end=\"connect timeout", start=mark, timeout=5) or
            lb.wait_stderr(r"listener=v4 .*connect=-", start=mark, timeout=1),
            "the access log shows the failed connect: %s" % lb.stderr()[mark:])
    lb.signal(signal.SIGTERM)
    t.eq(lb.wait(8), 0, "tcplb stops cleanly")


run(test, timeout=60)
