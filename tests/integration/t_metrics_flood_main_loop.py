"""Rendering /metrics and the status page never holds the main loop
(issue 21, item 2).

10,000 servers: one render is a long stretch of CPU.  Three clients fetch
/metrics and one the status page, back to back, while the admin socket
(served by the main loop, like signals and the watchdog) is asked `show
info` every 20 ms.  With renders on the main loop each admin answer waited
for the render in progress; rendered on the page thread, the main loop
answers at once.  Also: concurrent scrapes share renders, and every
answer is whole (Content-Length matches, last family present), and so
is a streamed `show servers`; a stop while pages render exits cleanly."""
import sys, os, json
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *

N = 10000
FLOOD_S = 5.0


def test(t):
    port = free_port()
    mport = free_port()
    sock = t.path("admin.sock")
    # Distinct addresses: 127.0.x.y on one port.
    servers = "".join('      - "127.0.%d.%d:9"\n' % (i // 250, 1 + i % 250)
                      for i in range(N))
    lb = t.start_config("""\
global:
  admin_socket: %s
  metrics: 127.0.0.1:%d
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    servers:
%s""" % (sock, mport, port, servers), ready_timeout=60)
    maddr = ("127.0.0.1", mport)
    t0 = time.monotonic()
    st, hd, body = http_get(maddr, "/metrics", timeout=60)
    alone = time.monotonic() - t0
    t.eq(st, 200)
    t.log("one render alone: %.3fs, %d bytes" % (alone, len(body)))
    stop = time.monotonic() + FLOOD_S
    renders = []
    lat = []
    lock = threading.Lock()

    def flood(path):
        while time.monotonic() < stop:
            a = time.monotonic()
            try:
                st, hd, body = http_get(maddr, path, timeout=60)
            except OSError:
                continue
            with lock:
                renders.append((time.monotonic() - a, st, len(body),
                                int(hd.get("content-length", -1)), body[-200:]))

    th = [threading.Thread(target=flood, args=(p,), daemon=True)
          for p in ("/metrics", "/metrics", "/metrics", "/")]
    for x in th:
        x.start()
    time.sleep(min(0.5, alone))
    while time.monotonic() < stop:
        a = time.monotonic()
        out = admin_send(sock, "show info", timeout=30)
        lat.append(time.monotonic() - a)
        t.check("generation" in out or "pid" in out, "show info: %r" % out[:200])
        time.sleep(0.02)
    for x in th:
        x.join(60)
    lat.sort()
    p95 = lat[int(len(lat) * 0.95)]
    med = sorted(r[0] for r in renders)[len(renders) // 2]
    t.log("%d renders (median %.3fs), %d admin answers: median %.4fs p95 %.4fs max %.4fs"
          % (len(renders), med, len(lat), lat[len(lat) // 2], p95, lat[-1]))
    for r in renders:
        t.eq(r[1], 200, "status")
        t.eq(r[2], r[3], "body length against Content-Length")
    t.check(any(b"tcplb_server_check_duration_seconds" in r[4] for r in renders),
            "a /metrics answer ends with the last family")
    # `show servers` is streamed a slice at a time: whole, in both forms.
    out = admin_send(sock, "show servers", timeout=60)
    t.eq(len(out.splitlines()), N + 1, "show servers lines")
    doc = json.loads(admin_send(sock, "show servers json", timeout=60))
    t.eq(len(doc["servers"]), N, "show servers json entries")
    t.eq(len({(s["server"], s["address"]) for s in doc["servers"]}), N,
         "distinct servers")
    limit = max(0.15, 0.3 * alone)
    t.check(p95 < limit, "admin answers waited for renders: p95 %.3fs, "
            "limit %.3fs (one render %.3fs)" % (p95, limit, alone))

    # Stopping while pages are being rendered and waited for: a clean exit
    # (the waiting clients are closed, their jobs dropped).
    waiting = []
    for _ in range(3):
        s = connect(maddr)
        s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
        waiting.append(s)
        t.add_closer(s)
    time.sleep(min(0.05, alone / 4))
    t.eq(lb.stop(timeout=60), 0, "exit status when stopped mid-render")


run(test, timeout=180)
