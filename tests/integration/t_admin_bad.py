"""Admin socket, bad input: an unknown command, an unknown pool or server,
an oversized line, control bytes each get one clear error line; a client
that never sends is closed by the timeout and one that never reads cannot
stall the main loop: other admin clients and traffic are answered all along."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def test(t):
    a = t.identify_backend("A")
    port = free_port()
    sock = t.path("admin.sock")
    lb = t.start_config("""\
global:
  admin_socket: %s
listeners:
  front: {bind: "127.0.0.1:%d", pool: web}
pools:
  web:
    servers:
      - {address: "%s", name: app1}
""" % (sock, port, a.hostport))
    addr = ("127.0.0.1", port)

    def one(line):
        ans = admin_send(sock, line)
        t.eq(ans.count("\n"), 1, "one line for %r: %r" % (line, ans))
        t.check(ans.startswith("error: "), "error for %r: %r" % (line, ans))
        return ans.strip()

    t.eq(one("frobnicate"), "error: unknown command 'frobnicate'; try 'help'")
    t.eq(one("show servers nopool"), "error: no pool 'nopool'")
    t.eq(one("set server web/nosrv state drain"), "error: no server 'nosrv' in pool 'web'")
    t.eq(one("set server web/app1 state broken"),
         "error: invalid state 'broken' (ready, drain or maint)")
    t.eq(one("set server web/app1 weight 999"), "error: invalid weight '999' (0-256)")
    t.eq(one("set server webapp1 state drain"), "error: expected POOL/SERVER, got 'webapp1'")
    t.eq(one("show"), "error: show what? (info, listeners, pools, servers [POOL], sessions [POOL[/SERVER]])")
    t.eq(one(""), "error: empty command; try 'help'")
    t.check("invalid byte 0x01" in one("show\x01info"), "control byte")
    # JSON errors are JSON
    import json
    j = json.loads(admin_send(sock, "frobnicate json"))
    t.eq(j["error"], "unknown command 'frobnicate'; try 'help'")
    # a client-chosen string is quoted printable and bounded
    long_word = "z" * 200
    e = one(long_word)
    t.check(len(e) < 120, "bad word repeated unbounded: %r" % e)

    # oversized line: one error line, then close
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(sock)
    s.sendall(b"show " + b"a" * 10000)
    data, how = recv_until_eof(s, 5)
    s.close()
    t.eq(data, b"error: command line longer than 4095 bytes\n", "oversized line")

    # a client that never sends and one that never reads
    idle = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    idle.connect(sock)
    idle_since = time.monotonic()
    t.add_closer(idle)
    slow = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.connect(sock)
    t.add_closer(slow)
    # many open sessions make a long `show sessions` answer
    raise_nofile(8192)
    held = []
    for i in range(3000):
        c = connect(addr)
        t.add_closer(c)
        held.append(c)
    for c in held:
        t.eq(recv_line(c), "A")
    # about 550 KB of JSON: more than the socket buffers hold
    slow.sendall(b"show sessions json\n")
    slow_since = time.monotonic()
    time.sleep(0.3)
    for i in range(5):
        t0 = time.monotonic()
        t.check(admin_send(sock, "show info", timeout=2).startswith("version:"),
                "admin answers while two clients stall")
        t.eq(t.identify(addr), "A")
        t.check(time.monotonic() - t0 < 1.0, "answer took %.2fs" % (time.monotonic() - t0))
    # the idle client sent no command line within the head deadline (5s):
    # closed, however long the progress timeout (10s)
    data, how = recv_until_eof(idle, 30)
    took = time.monotonic() - idle_since
    t.eq(how, "eof", "idle admin client closed (a unix socket has no reset)")
    t.check(4.5 <= took <= 9, "idle client reset after %.1fs (deadline 5s)" % took)
    # the stalled reader was dropped by the same timeout: what it can
    # still read is a truncated answer
    time.sleep(max(0, slow_since + 12 - time.monotonic()))
    data, how = recv_until_eof(slow, 5)
    t.check(how in ("eof", "reset"), "stalled reader closed (%s)" % how)
    t.check(len(data) > 0 and b'"worker_pause_us"' not in data,
            "stalled reader got a truncated answer (%d bytes)" % len(data))
    t.check(lb.alive(), "tcplb alive")


run(test, timeout=90)
