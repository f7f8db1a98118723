"""A /metrics flood must not fail health checks (issue 21, item 1).

2,500 healthy servers (listening sockets whose accept queue takes the
check's connect), checked every second with a 50 ms timeout and fall 1:
one late verdict marks a server DOWN.  Meanwhile four clients fetch
/metrics (and the status page) back to back, each render a long stretch
of main-thread CPU.  With the checks on the main loop, a render that
outlasts the timeout failed checks whose connect had long completed; on
their own thread, with verdicts from the socket, none may fail."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *

N = int(os.environ.get("FLOOD_N", "2500"))
FLOOD_S = 6.0
TMO = int(os.environ.get("FLOOD_TMO", "50"))


def test(t):
    raise_nofile(N + 1024)
    socks = []
    for _ in range(N):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        socks.append(s)
    t.add_closer(type("C", (), {"close": lambda self: [s.close() for s in socks]})())
    port = free_port()
    mport = free_port()
    servers = "".join('      - "127.0.0.1:%d"\n' % s.getsockname()[1] for s in socks)
    lb = t.start_config("""\
global:
  metrics: 127.0.0.1:%d
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    health_check: {interval: 1s, timeout: %dms, fall: 1, rise: 1}
    servers:
%s""" % (mport, port, TMO, servers), ready_timeout=30)
    maddr = ("127.0.0.1", mport)
    # Every server checked at least once (spread over one interval).
    time.sleep(2.0)
    stop = time.monotonic() + FLOOD_S
    renders = []
    lock = threading.Lock()

    def flood(path):
        while time.monotonic() < stop:
            t0 = time.monotonic()
            try:
                st, _, body = http_get(maddr, path, timeout=10)
            except OSError:
                continue
            with lock:
                renders.append((time.monotonic() - t0, st, len(body)))

    th = [threading.Thread(target=flood, args=(p,), daemon=True)
          for p in ("/metrics", "/metrics", "/metrics", "/")]
    for x in th:
        x.start()
    for x in th:
        x.join(FLOOD_S + 15)
    t.check(len(renders) >= 4, "the flood got %d answers" % len(renders))
    t.log("%d renders, slowest %.3fs, %d bytes" % (
        len(renders), max(r[0] for r in renders), max(r[2] for r in renders)))
    time.sleep(0.5)
    downs = re.findall(r"is DOWN: [^\n]*", lb.stderr())
    t.check(not downs, "%d healthy servers marked DOWN during a /metrics "
            "flood, first: %s" % (len(downs), downs[:1]))
    t.check(lb.alive(), "tcplb died")


run(test, timeout=120)
