"""The routing layer's signals (issue 14): `tcplb ctl check` exits 0 only
when tcplb is ready and every listener's pool has a server up;
`tcplb ctl drain` makes it fail while tcplb keeps accepting and serving;
`--deadline` stops accepting after the deadline (open sessions go on, new
connections wait in the listen queue) and `undrain` resumes; during a
SIGTERM drain `show info` says `state: stopping` and check fails."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def test(t):
    a = t.identify_backend("A")
    port = free_port()
    port2 = free_port()
    sock = t.path("admin.sock")
    cfg = """\
global:
  admin_socket: %s
  shutdown_timeout: 10s
listeners:
  front: {bind: "127.0.0.1:%d", pool: web}
%s
pools:
  web:
    servers:
      - {address: "%s", name: a}
  dead:
    health_check: {interval: 100ms, timeout: 300ms, rise: 1, fall: 1}
    servers:
      - "127.0.0.1:%d"
"""
    second = '  other: {bind: "127.0.0.1:%d", pool: dead}' % port2
    lb = t.start_config(cfg % (sock, port, second, a.hostport, refused_port()))
    addr = ("127.0.0.1", port)

    def check():
        rc, out, err = t.ctl(sock, "check")
        return rc, (out + err).strip()

    # a listener whose pool has no server up fails the check
    rc, msg = wait_until(lambda: (lambda r: r if r[0] == 1 else None)(check()), timeout=5) or check()
    t.eq(rc, 1, "check with a dead pool: " + msg)
    t.check("pool 'dead' of listener 'other' has no server up" in msg, msg)
    t.reload(lb, cfg % (sock, port, "", a.hostport, refused_port()))
    rc, msg = check()
    t.eq(rc, 0, "check: " + msg)
    t.check(msg.startswith("ok"), msg)
    t.check(re.search(r"^state: ready$", admin_send(sock, "show info"), re.M), "state ready")

    # no server ready (maint) fails the check too
    admin_send(sock, "set server web/a state maint")
    t.eq(check()[0], 1, "check with the only server in maint")
    admin_send(sock, "set server web/a state ready")
    t.eq(check()[0], 0)

    # drain: check fails, tcplb still accepts and serves
    held, n = t.hold(addr)
    t.eq(n, "A")
    rc, out, err = t.ctl(sock, "drain")
    t.eq(rc, 0, "drain: " + err)
    rc, msg = check()
    t.eq(rc, 1, "check while draining")
    t.eq(msg, "error: not ready: draining")
    t.check(re.search(r"^state: draining$", admin_send(sock, "show info"), re.M), "state draining")
    for i in range(5):
        t.eq(t.identify(addr), "A", "new connection served while draining")
    t.check(t.echo_ok(held), "open session served while draining")
    rc, out, err = t.ctl(sock, "undrain")
    t.eq(rc, 0)
    t.eq(check()[0], 0, "check after undrain")

    # drain with a deadline: accepting stops after it, undrain resumes
    rc, out, err = t.ctl(sock, "drain", "--deadline", "500ms")
    t.eq(rc, 0, err)
    t.eq(t.identify(addr), "A", "served before the deadline")
    t.check(lb.wait_stderr(r"drain deadline passed", timeout=5), "deadline logged")
    time.sleep(0.2)
    late = connect(addr)        # completes in the kernel's listen queue
    t.add_closer(late)
    late.settimeout(1.0)
    try:
        got = late.recv(16)
    except socket.timeout:
        got = None
    t.eq(got, None, "nothing accepted after the deadline")
    t.check(t.echo_ok(held), "open session still served after the deadline")
    rc, out, err = t.ctl(sock, "undrain")
    t.eq(rc, 0)
    t.eq(recv_line(late, 3), "A", "the waiting connection is served after undrain")
    t.eq(t.identify(addr), "A")
    t.eq(check()[0], 0)
    rc, out, err = t.ctl(sock, "drain", "--deadline", "soon")
    t.eq(rc, 1, "bad deadline")
    t.check("invalid --deadline" in err, err)

    late.close()
    # SIGTERM: stopping, while an open session keeps the process alive
    lb.signal(signal.SIGTERM)
    t.check(lb.wait_stderr(r"no longer accepting", timeout=5), "drain began")
    t.check(re.search(r"^state: stopping$", admin_send(sock, "show info"), re.M), "state stopping")
    rc, msg = check()
    t.eq(rc, 1)
    t.eq(msg, "error: not ready: stopping")
    held.close()
    t.eq(lb.wait(10), 0, "exit 0")
    t.check(not os.path.exists(sock), "admin socket removed at exit")


run(test)
