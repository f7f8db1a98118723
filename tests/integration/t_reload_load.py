"""Clients connect without pause while 50 reloads alternate two backend
sets behind the same listener: not one connection fails."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *

CFG = """\
listeners:
  front:
    bind: 127.0.0.1:%d
    pool: p
pools:
  p:
    servers:
      - %s
      - %s
"""


def test(t):
    bs = {n: t.identify_backend(n) for n in "ABCD"}
    port = free_port()
    addr = ("127.0.0.1", port)
    cfg_x = CFG % (port, bs["A"].hostport, bs["B"].hostport)
    cfg_y = CFG % (port, bs["C"].hostport, bs["D"].hostport)
    lb = t.start_config(cfg_x)
    stop = threading.Event()
    res = {"ok": 0, "fail": [], "names": {}}
    lock = threading.Lock()

    def client():
        while not stop.is_set():
            try:
                s = connect(addr, timeout=3)
                name = recv_line(s, 3)
                if name is not None:
                    s.sendall(b"x")
                    if recv_exact(s, 1, 3) != b"x":
                        name = None
                s.close()
            except (OSError, TestFailure) as e:
                name = repr(e)
            with lock:
                if name in bs:
                    res["ok"] += 1
                    res["names"][name] = res["names"].get(name, 0) + 1
                else:
                    res["fail"].append(name)

    ths = [threading.Thread(target=client, daemon=True) for _ in range(4)]
    for th in ths:
        th.start()
    t0 = time.monotonic()
    for i in range(50):
        t.reload(lb, cfg_y if i % 2 == 0 else cfg_x)
    dt = time.monotonic() - t0
    time.sleep(0.2)
    stop.set()
    for th in ths:
        th.join(5)
    t.log("50 reloads in %.2fs; %d connections ok, %d failed; per backend %s"
          % (dt, res["ok"], len(res["fail"]), res["names"]))
    t.check(res["ok"] > 50, "too few connections (%d) to mean anything" % res["ok"])
    t.check(not res["fail"], "failed connections: %d, e.g. %s" % (len(res["fail"]), res["fail"][:5]))
    # the last config (x: A, B) is in force
    names = set(t.identify(addr) for _ in range(6))
    t.eq(names, {"A", "B"}, "backends after the last reload")
    t.check(lb.alive(), "tcplb died")


run(test, timeout=120)
