"""Issue 20 items 1 and 2, and counters: with global.metrics and
admin_socket set, a binary upgrade works (the new process takes the
metrics socket instead of failing to bind it), and while it runs a
scraper and `check` on the admin socket never fail.  Every *_total
counter scraped never goes back (bytes included, not only connection
totals, and counters of no server or listener: refusals, reloads), also
with traffic during the upgrade.  A failed upgrade (the new process cannot bind a new metrics
address) leaves the running instance's admin socket in place, and a
second instance sharing only admin_socket refuses to start instead of
taking over (or at its exit deleting) the live socket."""
import sys, os, re, socket
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from upglib import *

CFG = """\
global:
  shutdown_timeout: 5s
  admin_socket: %s
  metrics: "127.0.0.1:%d"
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
  guarded: {bind: "127.0.0.1:%d", pool: p, deny: ["127.0.0.1/32"]}
pools:
  p:
    health_check: {interval: 100ms, timeout: 1s}
    servers: ["%s"]
"""
COUNTERS = re.compile(r"^(tcplb_[a-z_]+_total(?:\{[^}]*\})?) ([0-9.e+-]+)$", re.M)


class Watcher:
    """Scrape /metrics and run `check` in a loop; record failures and any
    counter that went back."""
    def __init__(self, t, maddr, sock):
        self.t, self.maddr, self.sock = t, maddr, sock
        self.scrapes = self.checks = 0
        self.fail = []
        self.back = []
        self.last = {}
        self.stop = False
        self.th = threading.Thread(target=self.loop, daemon=True)
        self.th.start()

    def loop(self):
        while not self.stop:
            try:
                st, _, body = http_get(self.maddr, "/metrics", timeout=3)
                if st != 200:
                    self.fail.append("scrape %d" % st)
                for k, v in COUNTERS.findall(body.decode()):
                    v = float(v)
                    if v < self.last.get(k, 0):
                        self.back.append((k, self.last[k], v))
                    self.last[k] = v
                self.scrapes += 1
            except Exception as e:
                self.fail.append("scrape: %r" % e)
            try:
                ans = admin_send(self.sock, "check", timeout=3)
                if not ans.startswith("ok"):
                    self.fail.append("check: %r" % ans[:80])
                self.checks += 1
            except Exception as e:
                self.fail.append("check: %r" % e)
            time.sleep(0.01)

    def end(self):
        self.stop = True
        self.th.join(10)


def test(t):
    a = t.echo_backend() if hasattr(t, "echo_backend") else t.backend("A")
    sock = t.path("admin.sock")
    mport, port, gport = free_port(), free_port(), free_port()
    cfg = t.write("tcplb.yaml", CFG % (sock, mport, port, gport, a.hostport))
    run = UpgradeRun(t, cfg)
    for i in range(5):
        s = connect(("127.0.0.1", port))
        s.sendall(b"x" * 1000)
        recv_exact(s, 1000)
        s.close()
    # counters that are not a server's or a listener's: refusals, reloads
    for i in range(3):
        try:
            connect(("127.0.0.1", gport)).recv(1)
        except OSError:
            pass
    ans = admin_send(sock, "reload")
    t.check(not ans.startswith("error"), "reload: %r" % ans)
    w = Watcher(t, ("127.0.0.1", mport), sock)
    t.check(wait_until(lambda: w.scrapes > 5 and w.checks > 5, 10), "watcher does not run")
    before = dict(w.last)
    t.check(wait_until(lambda: any(k.startswith("tcplb_server_checks_total") and v > 3
                                   for k, v in w.last.items()), 10), "checks counted")
    before = dict(w.last)
    t.check(before.get("tcplb_reloads_total") == 1 and
            before.get('tcplb_refused_connections_total{reason="denied"}') == 3,
            "counters before: %r" % before)
    # traffic throughout the upgrade: what the old process counts until the
    # handover is carried too
    running = [True]

    def traffic():
        while running[0]:
            try:
                s = connect(("127.0.0.1", port))
                s.sendall(b"y" * 100)
                recv_exact(s, 100)
                s.close()
            except Exception:
                pass
    th = threading.Thread(target=traffic, daemon=True)
    th.start()
    new = run.upgrade()
    t.check(wait_until(lambda: admin_json(sock, "show info")["pid"] == new, 10),
            "the admin socket is not the new process's")
    t.eq(run.lb.wait(10), 0, "the old process exits 0")
    n0 = w.scrapes
    t.check(wait_until(lambda: w.scrapes > n0 + 5, 10), "no scrape after the old process exited")
    running[0] = False
    th.join(5)
    w.end()
    t.eq(w.last.get("tcplb_reloads_total"), 1, "reload total carried")
    t.eq(w.last.get('tcplb_refused_connections_total{reason="denied"}'), 3, "refusals carried")
    t.log("%d scrapes, %d checks" % (w.scrapes, w.checks))
    t.eq(w.fail, [], "failures while upgrading")
    t.eq(w.back, [], "counters that went back")
    t.check(w.last.get("tcplb_connections_total", 0) >= 5, "connection total carried")
    bytes_in = [v for k, v in w.last.items() if k.startswith("tcplb_server_bytes_in_total")]
    t.check(bytes_in and max(bytes_in) >= 5000, "byte counters carried: %r" % bytes_in)

    # ---- a failed upgrade leaves the admin socket to the running one ------
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    t.add_closer(busy)
    t.write("tcplb.yaml", CFG % (sock, busy.getsockname()[1], port, gport, a.hostport))
    r = run.upgrade(expect=False, timeout=5)
    t.check(r is None, "the upgrade should fail (metrics port taken)")
    t.check(wait_until(lambda: any("upgrade failed" in m for m in run.n.messages()), 10),
            "no failure reported")
    t.eq(admin_json(sock, "show info")["pid"], new,
         "the admin socket still answers (by the running process) after a failed upgrade")
    t.check(admin_send(sock, "check").startswith("ok"), "check answers ok")

    # ---- a second instance sharing only admin_socket ----------------------
    t.write("other.yaml", CFG % (sock, free_port(), free_port(), free_port(), a.hostport))
    rc, out, err = t.run_tcplb(["-c", t.path("other.yaml"), "--log-target", "stderr"], timeout=10)
    t.check(rc != 0 and "another process answers there" in err,
            "a second instance on the same admin socket must refuse: rc %r %r" % (rc, err[-300:]))
    t.eq(admin_json(sock, "show info")["pid"], new, "the live socket is untouched")
    run.stop_main()
    t.check(not os.path.exists(sock), "the stopped instance removes its socket")
    t.eq([f for f in os.listdir(t.dir) if f.startswith("admin.sock")], [],
         "no leftover per-process socket")


run(test)
