"""1,000 reloads under load, alternating valid and invalid files (issue 9,
"Proof, in CI"): clients connect without pause the whole time and not one
connection fails; the invalid files change nothing; descriptors return to
their baseline and RSS does not grow.  TCPLB_RELOADS changes the count."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *

VALID = """\
global: {access_log: false}
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    balance: %s
    servers:
%s"""

INVALID = [
    "listeners: {front: {bind: \"127.0.0.1:%d\", pool: nope}}\npools: {p: {servers: [\"127.0.0.1:1\"]}}\n",
    "listeners:\n  front: {bind: \"127.0.0.1:%d\", pool: p\n",          # syntax error
    "listeners: {front: {bind: \"127.0.0.1:%d\", pool: p}}\npools: {p: {servers: [\"127.0.0.1:0\"]}}\n",
    "%d: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]\n",        # too deep
]


def test(t):
    nreloads = int(os.environ.get("TCPLB_RELOADS", "1000"))
    bs = {n: t.identify_backend(n) for n in "AB"}
    port = free_port()
    addr = ("127.0.0.1", port)
    # Two valid files: other algorithms and weights, the same servers (so
    # no connection may fail by design).
    valid = [VALID % (port, "roundrobin", "      - %s\n      - %s\n" % (bs["A"].hostport, bs["B"].hostport)),
             VALID % (port, "leastconn", "      - {address: \"%s\", weight: 3}\n      - %s\n"
                      % (bs["B"].hostport, bs["A"].hostport))]
    lb = t.start_config(valid[0])
    stop = threading.Event()
    lock = threading.Lock()
    res = {"ok": 0, "fail": []}

    def client():
        while not stop.is_set():
            try:
                s = connect(addr, timeout=3)
                name = recv_line(s, 3)
                s.close()
            except OSError as e:
                name = repr(e)
            with lock:
                if name in bs:
                    res["ok"] += 1
                else:
                    res["fail"].append(name)

    def measure():
        # quiet moment: no client in flight
        return lb.fd_count(), lb.rss_kb()

    fd0, rss0 = measure()
    ths = [threading.Thread(target=client, daemon=True) for _ in range(3)]
    for th in ths:
        th.start()
    t0 = time.monotonic()
    rss_warm = None
    bad_status = 0
    for i in range(nreloads):
        if i % 2 == 0:
            msgs = t.reload(lb, valid[(i // 2) % 2])
        else:
            msgs = t.reload(lb, INVALID[(i // 2) % len(INVALID)] % port)
            if not any("STATUS=reload failed" in m for m in msgs):
                bad_status += 1
        if i == nreloads // 10:
            rss_warm = lb.rss_kb()
    dt = time.monotonic() - t0
    stop.set()
    for th in ths:
        th.join(5)
    time.sleep(0.3)
    fd1, rss1 = measure()
    t.log("%d reloads in %.1fs (%.1f ms each) under load: %d connections ok, %d failed; "
          "fds %d -> %d; RSS %d kB at start, %d kB after %d reloads, %d kB at the end"
          % (nreloads, dt, dt * 1000 / max(nreloads, 1), res["ok"], len(res["fail"]),
             fd0, fd1, rss0, rss_warm or 0, nreloads // 10, rss1))
    t.eq(res["fail"][:5], [], "failed connections during reloads")
    t.check(res["ok"] >= nreloads, "too little load: %d connections" % res["ok"])
    t.eq(bad_status, 0, "invalid files whose READY=1 STATUS= named no error")
    t.check(fd1 <= fd0, "descriptors grew over the reloads: %d -> %d" % (fd0, fd1))
    # A sanitizer's allocator keeps freed memory (ASan's quarantine, TSan's
    # shadow) by design: RSS says nothing there.
    if rss_warm is not None and not lb.sanitizer():
        t.check(rss1 - rss_warm < 2048, "RSS grew %d kB over %d reloads"
                % (rss1 - rss_warm, nreloads - nreloads // 10))
    t.check(lb.alive(), "tcplb died")


run(test, timeout=float(os.environ.get("TCPLB_RELOADS_TIMEOUT", "240")))
