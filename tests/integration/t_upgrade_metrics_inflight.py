"""Issue 20: during a binary upgrade a scrape of the metrics port never
fails.  The old process hands its listening socket over, and a connection
it accepted before the handover is still answered by it: one whose request
arrives only after the new process took over (held open here, so the race
that made t_upgrade_metrics fail about 1 run in 5 is hit every time), and
those of scrapers that scrape in a tight loop through several upgrades.
The same for a `check` on the admin socket that reached the old process.
The old process answers with its counters as of the handover (bytes its
sessions move after it are not carried): the next scrape never shows
less.  The old process still exits soon after, and no scrape was lost."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from upglib import *

CFG = """\
global:
  shutdown_timeout: 5s
  admin_socket: %s
  metrics: {bind: "127.0.0.1:%d", max_connections_per_source: 64}
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    servers: ["%s"]
"""
UPGRADES = 3
SCRAPERS = 3
REQ = b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n"
COUNTERS = re.compile(r"^(tcplb_[a-z_]+_total(?:\{[^}]*\})?) ([0-9.e+-]+)$", re.M)


def counters(body):
    return {k: float(v) for k, v in COUNTERS.findall(body.decode())}


def parse(data):
    """(status, body) of a raw HTTP answer; status None if there is none."""
    head, _, body = data.partition(b"\r\n\r\n")
    first = head.split(b"\r\n", 1)[0].split()
    if len(first) < 2 or not first[0].startswith(b"HTTP/"):
        return None, body
    return int(first[1]), body


class Scrapers:
    """Scrape /metrics from a few threads without pause; record failures."""
    def __init__(self, addr, n):
        self.addr = addr
        self.ok = 0
        self.fail = []
        self.stop = False
        self.lock = threading.Lock()
        self.ths = [threading.Thread(target=self.loop, daemon=True) for _ in range(n)]
        for th in self.ths:
            th.start()

    def loop(self):
        while not self.stop:
            try:
                s = connect(self.addr, timeout=3)
                try:
                    s.sendall(REQ)
                    data, how = recv_until_eof(s, 5)
                finally:
                    s.close()
                st, body = parse(data)
                with self.lock:
                    if how != "eof" or st != 200 or b"tcplb_" not in body:
                        self.fail.append("%s after %d bytes, status %r" % (how, len(data), st))
                    else:
                        self.ok += 1
            except Exception as e:
                with self.lock:
                    self.fail.append(repr(e))

    def end(self):
        self.stop = True
        for th in self.ths:
            th.join(10)


def test(t):
    a = t.backend("A")
    sock = t.path("admin.sock")
    mport, port = free_port(), free_port()
    maddr = ("127.0.0.1", mport)
    cfg = t.write("tcplb.yaml", CFG % (sock, mport, port, a.hostport))
    run = UpgradeRun(t, cfg)
    t.eq(http_get(maddr, "/metrics")[0], 200, "scrape before the upgrades")
    sc = Scrapers(maddr, SCRAPERS)
    t.check(wait_until(lambda: sc.ok > 10, 10), "the scrapers do not run: %r" % sc.fail[:3])
    for i in range(UPGRADES):
        old = run.main
        # Accepted by the old process (the only one yet); the request
        # comes after the handover: nothing sent, half a request line, a
        # request line without the blank line that ends the head.
        # A session on the old process that moves bytes after the
        # handover: the old process counts them, the new one does not
        # carry them (as documented).
        sess = connect(("127.0.0.1", port), timeout=5)
        t.add_closer(sess)
        sess.sendall(b"x" * 10)
        recv_exact(sess, 10)
        held = []
        for part in (b"", b"GET /metr", b"GET /metrics HTTP/1.0\r\n"):
            s = connect(maddr, timeout=5)
            t.add_closer(s)
            if part:
                s.sendall(part)
            held.append((s, part))
        # And a `check` that found the old process's admin socket at the
        # path, its line still on the way.
        ah = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        t.add_closer(ah)
        ah.settimeout(5)
        ah.connect(sock)
        ah.sendall(b"che")
        t0 = time.monotonic()
        time.sleep(0.2)	# accepted, surely, before the SIGUSR2
        new = run.upgrade()
        t.check(wait_until(lambda: admin_json(sock, "show info")["pid"] == new, 10),
                "upgrade %d: the admin socket is not the new process's" % i)
        big = b"y" * 200000
        sess.sendall(big)
        recv_exact(sess, len(big))
        sess.close()
        time.sleep(0.1)
        # Each has HEAD_S (5 s) from its accept for its head; a very slow
        # run (TSan) may be past it, and then the reset is right.
        timely = time.monotonic() - t0 < 3.5
        if not timely:
            t.log("upgrade %d took %.1fs: the held requests are not checked"
                  % (i, time.monotonic() - t0))
        for s, part in held:
            if timely:
                s.sendall(REQ[len(part):])
        answers = []
        for s, part in held:
            if not timely:
                s.close()
                continue
            data, how = recv_until_eof(s, 5)
            st, body = parse(data)
            t.check(how == "eof" and st == 200 and b"tcplb_connections_total" in body,
                    "upgrade %d: a scrape the old process accepted (sent %r before the "
                    "handover) is not answered: %s after %r" % (i, part, how, data[:80]))
            answers.append(counters(body))
            s.close()
        # The old process answers with its counters as of the handover
        # (what the new one carries): the next scrape never goes back,
        # bytes counted after the handover included.
        nxt = counters(http_get(maddr, "/metrics")[2])
        for a in answers:
            back = [(k, v, nxt[k]) for k, v in a.items() if k in nxt and nxt[k] < v]
            t.eq(back, [], "upgrade %d: counters that went back after the old process's "
                 "answer" % i)
        # The scrapes answered, the old process has only the `check` left:
        # before, it exited now, closing it.  Give it the time to.
        wait_until(lambda: not pid_alive(old), 1)
        if not timely:
            ah.close()
        try:
            ah.sendall(b"ck\n")
            data, how = recv_until_eof(ah, 5)
        except OSError as e:
            data, how = b"", repr(e)
        t.check(not timely or (how == "eof" and data.startswith(b"ok")),
                "upgrade %d: a `check` the old process accepted is not answered: %s after %r"
                % (i, how, data[:80]))
        ah.close()
        # Answered, the old process has nothing left: it exits.
        t.check(wait_until(lambda: not pid_alive(old), 10),
                "upgrade %d: the old process %d does not exit" % (i, old))
        n0 = sc.ok
        t.check(wait_until(lambda: sc.ok > n0 + 5, 10),
                "upgrade %d: no scrape after the old process exited" % i)
    sc.end()
    t.log("%d scrapes through %d upgrades" % (sc.ok, UPGRADES))
    t.eq(sc.fail, [], "scrapes that failed while upgrading")
    run.stop_main()


run(test)
