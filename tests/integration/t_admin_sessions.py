"""`show sessions` lists every open session (client, listener, pool,
server, age, bytes) with POOL and POOL/SERVER filters, in text and JSON,
produced by the workers without stalling traffic: the p99 latency of a
keep-alive load stays bounded while `show sessions` on 2,000 sessions runs
in a loop (bench/admin-p99 measures 10,000)."""
import sys, os, json
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *

N = 2000


def p99(v):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * 0.99))]


def test(t):
    raise_nofile(4 * N + 1000)
    a = t.identify_backend("A")
    b = t.identify_backend("B")
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
      - {address: "%s", name: a}
      - {address: "%s", name: b}
""" % (sock, port, a.hostport, b.hostport))
    addr = ("127.0.0.1", port)
    held = {}
    for i in range(N):
        s = connect(addr)
        t.add_closer(s)
        held[s] = None
    for s in held:
        held[s] = recv_line(s)
    s0 = next(iter(held))
    t.check(t.echo_ok(s0, b"12345"), "echo")

    j = admin_json(sock, "show sessions")
    t.eq(len(j["sessions"]), N, "every session listed")
    # each worker copied its share between two events: a short pause
    t.log("longest worker pause for show sessions: %d us" % j["worker_pause_us"])
    t.check(j["worker_pause_us"] < 50000, "worker paused %d us" % j["worker_pause_us"])
    mine = {"%s:%d" % s.getsockname(): n for s, n in held.items()}
    for e in j["sessions"]:
        t.check(e["client"] in mine, "client %s is one of ours" % e["client"])
        t.eq(e["server"], mine[e["client"]].lower())
        t.eq(e["listener"], "front")
        t.eq(e["pool"], "web")
    e0 = [e for e in j["sessions"] if e["client"] == "%s:%d" % s0.getsockname()][0]
    t.eq(e0["bytes_in"], 5)
    t.eq(e0["bytes_out"], 5 + 2)
    na = sum(1 for n in held.values() if n == "A")
    t.eq(len(admin_json(sock, "show sessions web/a")["sessions"]), na, "POOL/SERVER filter")
    t.eq(len(admin_json(sock, "show sessions web")["sessions"]), N, "POOL filter")
    text = admin_send(sock, "show sessions web/b")
    lines = text.splitlines()
    t.eq(lines[0], "# id client listener pool server age bytes_in bytes_out mptcp")
    t.check(all(l.endswith(" -") for l in lines[1:]), "mptcp column: - for TCP")
    t.eq(len(lines) - 1, N - na)
    t.check(admin_send(sock, "show sessions nope").startswith("error: no pool 'nope'"), "bad pool")
    t.check(admin_send(sock, "show sessions web/zz").startswith("error: no server 'zz'"), "bad server")

    # keep-alive load: 8 connections ping-ponging, latency per round trip
    load = [connect(addr) for _ in range(8)]
    for s in load:
        t.add_closer(s)
        recv_line(s)

    def measure(seconds):
        lat = []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for s in load:
                t0 = time.perf_counter()
                s.sendall(b"0123456789abcdef")
                recv_exact(s, 16)
                lat.append(time.perf_counter() - t0)
        return lat

    base = measure(2.0)
    runner = subprocess.Popen(
        ["/bin/sh", "-c", 'end=$(($(date +%%s) + 4)); n=0; while [ $(date +%%s) -lt $end ]; do '
         '"%s" ctl -s "%s" show sessions json > /dev/null || exit 1; n=$((n+1)); done; echo $n'
         % (t.bin, sock)], stdout=subprocess.PIPE)
    time.sleep(0.3)
    during = measure(2.0)
    out, _ = runner.communicate(timeout=30)
    t.eq(runner.returncode, 0, "show sessions loop")
    rounds = int(out.strip() or 0)
    b99, d99 = p99(base) * 1000, p99(during) * 1000
    t.log("keep-alive p99: %.2f ms without, %.2f ms during %d x `show sessions` on %d sessions"
          % (b99, d99, rounds, N))
    print("keep-alive p99: %.2f ms without, %.2f ms during %d x show sessions on %d sessions"
          % (b99, d99, rounds, N))
    t.check(rounds >= 3, "show sessions ran %d times" % rounds)
    t.check(d99 <= max(3 * b99, b99 + 20), "p99 %.2f ms during show sessions vs %.2f ms" % (d99, b99))


run(test, timeout=120)
