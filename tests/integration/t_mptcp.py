"""Multipath TCP (issue 27): `mptcp: true` on a listener and on a pool.

A listener with `mptcp: true` serves a client that opens an IPPROTO_MPTCP
socket over MPTCP (the client's own socket says so: TCP_IS_MPTCP) and a
plain TCP client too; the pool's `mptcp: true` connects to an MPTCP server
(the server's accepted socket says so).  4 MiB each way checked by sha256.
`show sessions` and the access log name the MPTCP sides.  A reload that
turns the listener's `mptcp` off replaces its socket: MPTCP clients fall
back to TCP.  In a namespace with net.mptcp.enabled=0, tcplb warns once and
serves plain TCP."""
import sys, os, hashlib, re, signal, socket, subprocess, threading
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *

IPPROTO_MPTCP = 262
TCP_IS_MPTCP = 43

CFG = """\
global:
  admin_socket: %(sock)s
  access_log: true
listeners:
  mp: {bind: "127.0.0.1:%(port)d", pool: app, mptcp: %(lmp)s}
pools:
  app:
    mptcp: true
    servers: ["%(server)s"]
"""


def mptcp_supported():
    try:
        socket.socket(socket.AF_INET, socket.SOCK_STREAM, IPPROTO_MPTCP).close()
        return True
    except OSError:
        return False


def is_mptcp(s):
    try:
        return s.getsockopt(socket.IPPROTO_TCP, TCP_IS_MPTCP) == 1
    except OSError:
        return False


class MptcpBackend(ThreadBackend):
    """ThreadBackend on an IPPROTO_MPTCP listening socket."""

    def _listen(self, host, port, backlog):
        self.host = host
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, IPPROTO_MPTCP)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((host, port))
        self.lsock.listen(backlog)
        self.port = self.lsock.getsockname()[1]


def serve(conn, backend):
    """Say whether this connection runs MPTCP, then echo."""
    conn.sendall(b"mptcp\n" if is_mptcp(conn) else b"tcp\n")
    while True:
        data = conn.recv(65536)
        if not data:
            return
        conn.sendall(data)


class KillPid:
    """Kills the process a binary upgrade started (not the test's own)."""
    def __init__(self, pid):
        self.pid = pid

    def close(self):
        try:
            os.kill(self.pid, signal.SIGKILL)
        except OSError:
            pass


def transfer(t, s, what):
    blob = os.urandom(4 << 20)
    got = bytearray()

    def reader():
        while len(got) < len(blob):
            b = s.recv(1 << 16)
            if not b:
                return
            got.extend(b)
    th = threading.Thread(target=reader)
    th.start()
    s.sendall(blob)
    th.join(20)
    t.eq(hashlib.sha256(bytes(got)).hexdigest(), hashlib.sha256(blob).hexdigest(),
         "4 MiB echoed intact (%s)" % what)


def client(addr, proto):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, proto)
    s.settimeout(5)
    s.connect(addr)
    return s


def test(t):
    if not mptcp_supported():
        raise Skip("this kernel has no MPTCP (or net.mptcp.enabled=0)")
    backend = t.add_closer(MptcpBackend(serve, name="mp"))
    sock = t.path("admin.sock")
    port = free_port()
    conf = dict(sock=sock, port=port, lmp="true", server=backend.hostport)
    lb = t.start_config(CFG % conf)
    addr = ("127.0.0.1", port)

    # 1. an MPTCP client, MPTCP to the server too
    s = client(addr, IPPROTO_MPTCP)
    t.eq(recv_line(s, 5), "mptcp", "tcplb connects to the server with MPTCP")
    t.check(is_mptcp(s), "the client's connection runs MPTCP (not a fallback)")
    sess = admin_json(sock, "show sessions")["sessions"]
    t.eq([x["mptcp"] for x in sess], ["both"], "show sessions json: both sides MPTCP")
    t.check(re.search(r" both$", admin_send(sock, "show sessions"), re.M),
            "show sessions text: mptcp column says both")
    transfer(t, s, "MPTCP client")
    # ss agrees: the kernel lists an MPTCP connection to the listener
    ss = subprocess.run(["ss", "-Mn"], capture_output=True, text=True).stdout
    t.check(re.search(r"ESTAB.*127\.0\.0\.1:%d\s" % port, ss),
            "ss -M shows the MPTCP connection to tcplb: %s" % ss)
    s.close()
    t.check(lb.wait_stderr(r"listener=mp pool=app .* mptcp=both end=", timeout=5),
            "the access log says mptcp=both")

    # 2. a plain TCP client on the same listener
    s = client(addr, 0)
    t.eq(recv_line(s, 5), "mptcp", "server side still MPTCP")
    t.check(not is_mptcp(s), "plain TCP client")
    sess = admin_json(sock, "show sessions")["sessions"]
    t.eq([x["mptcp"] for x in sess], ["server"], "show sessions: only the server side")
    transfer(t, s, "TCP client")
    s.close()
    t.check(lb.wait_stderr(r"listener=mp pool=app .* mptcp=server end=", timeout=5),
            "the access log says mptcp=server")

    # 3. reload with the listener's mptcp off: a new socket, clients fall back;
    # systemd's fd store ends up holding the new group only
    msgs = t.reload(lb, CFG % dict(conf, lmp="false"))
    # (compact FDNAMEs: tcplb-L- a TCP group, tcplb-M- an MPTCP one)
    stored = [m for m in msgs if m.startswith("FDSTORE=1")]
    removed = [m for m in msgs if m.startswith("FDSTOREREMOVE=1")]
    t.check(stored and all("\nFDNAME=tcplb-L-" in m for m in stored),
            "the new TCP group is kept in the fd store: %s" % msgs)
    t.check(len(removed) == 1 and "\nFDNAME=tcplb-M-" in removed[0],
            "only the old MPTCP group is forgotten: %s" % removed)
    s = client(addr, IPPROTO_MPTCP)
    t.eq(recv_line(s, 5), "mptcp", "pool still MPTCP")
    t.check(not is_mptcp(s), "MPTCP client fell back to TCP after mptcp: false")
    t.check(t.echo_ok(s, b"after reload"), "served after the reload")
    s.close()

    # 4. back on, then a binary upgrade: the new process takes the MPTCP
    # group over as it is
    t.reload(lb, CFG % dict(conf, lmp="true"))
    start = t.notify.count()
    lb.signal(signal.SIGUSR2)
    r = t.notify.wait_for("MAINPID=", start=start, timeout=15)
    t.check(r, "no MAINPID= after SIGUSR2")
    new_pid = int([l for l in r[1].split("\n") if l.startswith("MAINPID=")][0].split("=")[1])
    t.add_closer(KillPid(new_pid))
    t.check(t.notify.wait_for("READY=1", start=r[0] + 1, timeout=10), "new process ready")
    t.eq(lb.wait(10), 0, "the old process exits 0")
    t.check(admin_json(sock, "show info")["pid"] == new_pid, "the new process answers")
    s = client(addr, IPPROTO_MPTCP)
    t.eq(recv_line(s, 5), "mptcp", "server side MPTCP after the upgrade")
    t.check(is_mptcp(s), "MPTCP client served over MPTCP by the new process")
    t.check(t.echo_ok(s, b"upgraded"), "served after the upgrade")
    s.close()
    t.check("kept until the next reload" not in lb.stderr(),
            "the inherited group matched: %s" % lb.stderr()[-400:])
    os.kill(new_pid, signal.SIGTERM)
    t.check(wait_until(lambda: not os.path.exists("/proc/%d" % new_pid) or
                       open("/proc/%d/stat" % new_pid).read().rsplit(")", 1)[1].split()[0] == "Z",
                       10), "the new process stops")

    # 5. net.mptcp.enabled=0 (per network namespace): a warning, plain TCP
    try:
        from netns import Lab
        lab = Lab(t)
    except Skip as e:
        t.log("skipping the net.mptcp.enabled=0 part:", e)
        return
    ns = lab.ns("off")
    lab.sysctl(ns, "net.mptcp.enabled", 0)
    with lab.inside(ns):
        plain = t.add_closer(ThreadBackend(serve, name="plain", host="127.0.0.1", port=9000))
    cfg = t.write("off.yaml", CFG % dict(conf, sock=t.path("off.sock"), port=8000, lmp="true",
                                           server="127.0.0.1:9000"))
    off = t.start(["-c", cfg, "--log-target", "stderr"], name="off",
                  argv0=lab.exec_argv(ns, [t.bin]))
    t.check(off.wait_stderr(r"listener 127\.0\.0\.1:8000: mptcp: the kernel has no "
                            r"Multipath TCP .*accepting plain TCP only", timeout=10),
            "tcplb warns that MPTCP is off: %s" % off.stderr()[-400:])
    with lab.inside(ns):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5)
    t.check(wait_until(lambda: s.connect_ex(("127.0.0.1", 8000)) == 0, timeout=5),
            "connect with MPTCP off")
    t.eq(recv_line(s, 5), "tcp", "the server is reached over plain TCP")
    t.check(t.echo_ok(s, b"plain"), "served with MPTCP off")
    s.close()
    off.signal(signal.SIGTERM)
    t.eq(off.wait(8), 0, "tcplb stops cleanly")


run(test, timeout=60)
