"""Active health checks (interval 200ms, fall 2, rise 2): a stopped server is
marked down within interval*fall + margin and logged; clients never fail
while another server is up; restarted on the same port it is marked up and
gets connections within interval*rise + margin.  (Passive marking is off:
a server that traffic marks down rests for fail_timeout, see
t_health_passive_rest.py.)"""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def test(t):
    a = t.identify_backend("alpha")
    b = t.identify_backend("bravo")
    port = free_port()
    addr = ("127.0.0.1", port)
    cfg = """\
global:
  log_level: info
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    max_fails: 0
    health_check:
      interval: 200ms
      timeout: 200ms
      fall: 2
      rise: 2
    servers:
      - {address: "%s", name: alpha}
      - {address: "%s", name: bravo}
""" % (port, a.hostport, b.hostport)
    lb = t.start_config(cfg)
    time.sleep(0.7)

    stop = threading.Event()
    res = {"ok": 0, "fail": [], "seen": []}

    def client():
        while not stop.is_set():
            t0 = time.monotonic()
            n = t.identify(addr, timeout=2)
            if n is None:
                res["fail"].append(round(t0 - T0, 3))
            else:
                res["ok"] += 1
                res["seen"].append((time.monotonic(), n))
            time.sleep(0.02)

    T0 = time.monotonic()
    th = threading.Thread(target=client, daemon=True)
    th.start()
    time.sleep(0.5)
    t.check({n for _, n in res["seen"]} == {"alpha", "bravo"}, "both servers should serve at first")

    off = len(lb.stderr())
    a_port = a.port
    t_stop = time.monotonic()
    a.close()
    m = lb.wait_stderr(r"^.*alpha.*\bdown\b.*$", timeout=3, start=off, flags=re.M | re.I)
    t_down = time.monotonic() - t_stop
    t.check(m, "no log line says alpha is down within 3s")
    t.log("down after %.3fs: %s" % (t_down, m.group(0)))
    t.check(t_down <= 0.2 * 2 + 0.6, "down detected after %.2fs (interval*fall = 0.4s)" % t_down)
    time.sleep(0.5)
    n_seen = len(res["seen"])
    time.sleep(0.5)
    t.check(all(n == "bravo" for _, n in res["seen"][n_seen:]), "alpha served while down?")

    off = len(lb.stderr())
    a2 = t.identify_backend("alpha", port=a_port)
    t_start = time.monotonic()
    m = lb.wait_stderr(r"^.*alpha.*\bup\b.*$", timeout=3, start=off, flags=re.M | re.I)
    t_up = time.monotonic() - t_start
    t.check(m, "no log line says alpha is up again within 3s")
    t.log("up after %.3fs: %s" % (t_up, m.group(0)))
    t.check(t_up <= 0.2 * 2 + 0.6, "up detected after %.2fs (interval*rise = 0.4s)" % t_up)
    got = wait_until(lambda: a2.stats()["accepted"] > 0 and
                     any(n == "alpha" and ts > t_start for ts, n in res["seen"]), 1.5)
    t_traffic = time.monotonic() - t_start
    t.check(got, "alpha got no client connection within 1.5s of its restart")
    t.log("alpha serves clients again %.3fs after restart" % t_traffic)
    time.sleep(0.3)
    stop.set()
    th.join(5)
    t.log("clients: %d served, %d failed at %s" % (res["ok"], len(res["fail"]), res["fail"][:5]))
    t.check(not res["fail"], "clients failed while bravo was up: at %s" % res["fail"][:5])


run(test)
