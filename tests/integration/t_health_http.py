"""health_check type http against a real nginx serving status codes (/ok
200, /gone 503, /moved 302), per-server check_port, expect_status as a code,
a list and a range; and hostile HTTP servers -- garbage, a port that accepts
and never answers, headers that never end, a 10 MB body -- each a failed
check with its reason in `show servers`, never a hang.  The failures are
counted in /metrics by fixed reason."""
import sys, os, json, shutil, socket, subprocess, threading
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *

NGINX = """\
daemon off;
master_process off;
worker_processes 1;
pid %(dir)s/nginx.pid;
error_log %(dir)s/nginx.err info;
events { worker_connections 256; }
http {
    access_log off;
    server {
        listen 127.0.0.1:%(port)d;
        location = /ok { return 200 "fine\\n"; }
        location = /gone { return 503 "no\\n"; }
        location = /moved { return 302 /ok; }
        location = /host { if ($host != "db.internal") { return 421; } return 200; }
    }
}
"""


class Proc:
    def __init__(self, argv, log):
        self.log = open(log, "wb")
        self.p = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL)

    def close(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()
        self.log.close()


def hostile(kind):
    def handler(c, b):
        c.settimeout(5)
        try:
            c.recv(4096)
            if kind == "garbage":
                c.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
                time.sleep(1)
            elif kind == "silent":
                time.sleep(2)
            elif kind == "endless":
                c.sendall(b"HTTP/1.1 200 OK\r\n")
                for i in range(2000):      # ~40 KB of headers, never the end
                    c.sendall(b"X-Filler-%05d: yes\r\n" % i)
                time.sleep(1)
            elif kind == "bigbody":
                body = b"x" * (10 << 20)
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body))
                c.sendall(body)
        except OSError:
            pass
    return handler


def test(t):
    nginx = shutil.which("nginx")
    if nginx is None:
        raise Skip("nginx not installed (see .ci/setup)")
    d = t.path("ng") + "/"
    os.makedirs(d, exist_ok=True)
    ng = free_port()
    conf = t.write("nginx.conf", NGINX % dict(dir=d.rstrip("/"), port=ng))
    t.add_closer(Proc([nginx, "-c", conf, "-p", d, "-e", t.path("nginx.err")], t.path("nginx.out")))
    t.check(wait_until(lambda: http_ok(ng), timeout=5), "nginx did not start")

    app = t.identify_backend("APP")
    bad = {k: t.thread_backend(hostile(k), name=k) for k in ("garbage", "silent", "endless", "bigbody")}
    port, mport = free_port(), free_port()
    sock = t.path("admin.sock")
    cfg = """\
global:
  admin_socket: %(sock)s
  metrics: 127.0.0.1:%(mport)d
listeners:
  front: {bind: "127.0.0.1:%(port)d", pool: ok}
pools:
  ok:
    health_check: {type: http, path: /ok, interval: 200ms, timeout: 500ms, rise: 1, fall: 1}
    servers:
      - {address: "%(app)s", name: a, check_port: %(ng)d}
  gone:
    health_check: {type: http, path: /gone, interval: 200ms, timeout: 500ms, rise: 1, fall: 1}
    servers:
      - {address: "%(app)s", name: a, check_port: %(ng)d}
  gone_expected:
    health_check: {type: http, path: /gone, expect_status: [200, 503], interval: 200ms, timeout: 500ms, rise: 1, fall: 1, port: %(ng)d}
    servers:
      - {address: "%(app)s", name: a}
  moved:
    health_check: {type: http, method: HEAD, path: /moved, expect_status: "200-299", interval: 200ms, timeout: 500ms, rise: 1, fall: 1, port: %(ng)d}
    servers:
      - {address: "%(app)s", name: a}
  host:
    health_check: {type: http, path: /host, host: db.internal, expect_status: 200, interval: 200ms, timeout: 500ms, rise: 1, fall: 1, port: %(ng)d}
    servers:
      - {address: "%(app)s", name: a}
  hostile:
    health_check: {type: http, path: /, interval: 300ms, timeout: 700ms, rise: 1, fall: 1}
    servers:
      - {address: "%(garbage)s", name: garbage}
      - {address: "%(silent)s", name: silent}
      - {address: "%(endless)s", name: endless}
      - {address: "%(bigbody)s", name: bigbody}
""" % dict(sock=sock, mport=mport, port=port, app=app.hostport, ng=ng,
           **{k: v.hostport for k, v in bad.items()})
    lb = t.start_config(cfg)

    want = {
        ("ok", "a"): ("up", "HTTP 200"),
        ("gone", "a"): ("down", "HTTP 503"),
        ("gone_expected", "a"): ("up", "HTTP 503"),
        ("moved", "a"): ("down", "HTTP 302"),
        ("host", "a"): ("up", "HTTP 200"),
        ("hostile", "garbage"): ("down", "not an HTTP response"),
        ("hostile", "silent"): ("down", "timeout (no reply)"),
        ("hostile", "endless"): ("down", "HTTP 200, headers longer than 16384 bytes"),
        ("hostile", "bigbody"): ("up", "HTTP 200"),
    }
    got = {}

    def settled():
        j = admin_json(sock, "show servers")
        got.clear()
        for s in j["servers"]:
            lc = s["last_check"]
            got[(s["pool"], s["server"])] = (s["health"], lc["result"] if lc else None)
        return all(got.get(k) == v for k, v in want.items())
    ok = wait_until(settled, timeout=8)
    for k, v in sorted(want.items()):
        t.log(k, "want", v, "got", got.get(k))
    t.check(ok, "check outcomes differ: %r" % {k: got.get(k) for k in want if got.get(k) != want[k]})

    # The 10 MB body is never read: the check that passed took little time.
    j = admin_json(sock, "show servers hostile")
    big = [s for s in j["servers"] if s["server"] == "bigbody"][0]
    t.check(big["last_check"]["duration"] < 0.65, "bigbody check took %s s" % big["last_check"]["duration"])
    # Text form shows the words too (one field: spaces become underscores).
    txt = admin_send(sock, "show servers gone")
    t.check(" HTTP_503 " in txt, "text show servers lacks the status: %r" % txt)

    # Metrics: failures by fixed reason, durations.
    m = http_get(("127.0.0.1", mport), "/metrics")[2].decode()
    for reason, pool, srv in (("http_status", "gone", "a"), ("http_invalid", "hostile", "garbage"),
                              ("timeout", "hostile", "silent")):
        t.check(re.search(r'tcplb_server_check_failures_total\{pool="%s",server="%s",address="[^"]*",reason="%s"\} [1-9]'
                          % (pool, srv, reason), m), "no %s failure counted for %s/%s" % (reason, pool, srv))
    t.check(re.search(r'tcplb_server_checks_total\{pool="ok",server="a",address="[^"]*"\} [1-9]', m), "no checks counted")
    t.check("tcplb_server_check_seconds_total" in m, "no check duration sum")
    # Traffic still flows to the pool whose check passes.
    s = connect(("127.0.0.1", port))
    t.eq(recv_line(s), "APP")
    s.close()
    t.check(lb.alive(), "tcplb died")


def http_ok(port):
    try:
        s = connect(("127.0.0.1", port), timeout=0.5)
        s.close()
        return True
    except OSError:
        return False


if __name__ == "__main__":
    run(test)
