"""Reload changes listeners: an added one accepts, a removed one refuses,
an unchanged one keeps its very socket (same inode) and refuses nothing
during the reload."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def cfg(listeners, backend):
    out = "listeners:\n"
    for name, port in listeners:
        out += "  %s:\n    bind: 127.0.0.1:%d\n    pool: p\n" % (name, port)
    out += "pools:\n  p:\n    servers:\n      - %s\n" % backend
    return out


def refused(port):
    try:
        s = connect(("127.0.0.1", port), timeout=0.5)
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    s.close()
    return False


def test(t):
    a = t.identify_backend("A")
    p_keep, p_drop, p_new = free_port(), free_port(), free_port()
    lb = t.start_config(cfg([("keep", p_keep), ("drop", p_drop)], a.hostport))
    t.eq(t.identify(("127.0.0.1", p_keep)), "A", "keep before")
    t.eq(t.identify(("127.0.0.1", p_drop)), "A", "drop before")
    t.check(refused(p_new), "new port accepts before the reload")
    inodes = listen_inodes(p_keep)
    t.log("listening sockets on the kept port:", inodes)

    # hammer the kept port during the reloads
    stop = threading.Event()
    res = {"ok": 0, "fail": []}

    def hammer():
        while not stop.is_set():
            try:
                s = connect(("127.0.0.1", p_keep), timeout=2)
                name = recv_line(s, 2)
                s.close()
                if name == "A":
                    res["ok"] += 1
                else:
                    res["fail"].append("served by %r" % name)
            except OSError as e:
                res["fail"].append(repr(e))
            time.sleep(0.02)

    ths = [threading.Thread(target=hammer, daemon=True) for _ in range(2)]
    for th in ths:
        th.start()
    time.sleep(0.2)
    t.reload(lb, cfg([("keep", p_keep), ("new", p_new)], a.hostport))
    time.sleep(0.2)
    t.eq(t.identify(("127.0.0.1", p_new)), "A", "the added listener")
    t.check(wait_until(lambda: refused(p_drop), 1), "the removed listener still accepts")
    t.eq(t.identify(("127.0.0.1", p_keep)), "A", "the kept listener")
    after = listen_inodes(p_keep)
    t.log("after: kept %s, new %s, dropped %s" % (after, listen_inodes(p_new), listen_inodes(p_drop)))
    if inodes:
        t.eq(after, inodes, "listening socket(s) of the unchanged listener (closed and rebound?)")
    t.eq(listen_inodes(p_drop), set(), "listening sockets left on the removed port")
    # a few more reloads back and forth while hammering
    for i in range(6):
        if i % 2 == 0:
            t.reload(lb, cfg([("keep", p_keep), ("drop", p_drop)], a.hostport))
        else:
            t.reload(lb, cfg([("keep", p_keep), ("new", p_new)], a.hostport))
    stop.set()
    for th in ths:
        th.join(5)
    t.log("kept port during 7 reloads: %d served, %d failed %s" % (res["ok"], len(res["fail"]), res["fail"][:5]))
    t.check(res["ok"] > 0, "no connection on the kept port during the reloads")
    t.check(not res["fail"], "connections on the unchanged listener failed during reloads: %s" % res["fail"][:5])
    if inodes:
        t.eq(listen_inodes(p_keep), inodes, "listening socket(s) of the kept listener after 7 reloads")


run(test)
