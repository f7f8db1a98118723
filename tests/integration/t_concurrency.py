"""1,000 concurrent clients, each sending a unique payload through tcplb to
an echo backend and reading it back intact."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *

N = 1000


def test(t):
    raise_nofile(8192)
    b = t.backend("echo")
    lb = t.start_quick([b.hostport])
    sel = selectors.DefaultSelector()
    clients = {}
    for i in range(N):
        s = socket.socket()
        s.setblocking(False)
        err = s.connect_ex(lb.addr)
        if err not in (0, errno.EINPROGRESS):
            t.fail("connect #%d: %s" % (i, os.strerror(err)))
        payload = (b"client-%04d-" % i) + hashlib.sha256(b"%d" % i).hexdigest().encode() * 4
        st = {"i": i, "out": payload, "want": payload, "got": bytearray(), "done": False}
        clients[s] = st
        sel.register(s, selectors.EVENT_WRITE | selectors.EVENT_READ, st)
    t0 = time.monotonic()
    done = 0
    failures = []
    while done < N and time.monotonic() - t0 < 20:
        for key, ev in sel.select(0.5):
            s, st = key.fileobj, key.data
            if ev & selectors.EVENT_WRITE and st["out"]:
                try:
                    n = s.send(st["out"])
                    st["out"] = st["out"][n:]
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError as e:
                    failures.append((st["i"], "send: %r" % e))
                    sel.unregister(s); done += 1; continue
                if not st["out"]:
                    sel.modify(s, selectors.EVENT_READ, st)
            if ev & selectors.EVENT_READ:
                try:
                    d = s.recv(4096)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError as e:
                    failures.append((st["i"], "recv: %r" % e))
                    sel.unregister(s); done += 1; continue
                if not d:
                    failures.append((st["i"], "EOF after %d bytes" % len(st["got"])))
                    sel.unregister(s); done += 1; continue
                st["got"] += d
                if len(st["got"]) >= len(st["want"]):
                    if bytes(st["got"]) != st["want"]:
                        failures.append((st["i"], "wrong bytes %r" % bytes(st["got"][:40])))
                    st["done"] = True
                    sel.unregister(s)
                    done += 1
    dt = time.monotonic() - t0
    pending = [st["i"] for st in clients.values() if not st["done"]]
    peak = b.stats()["max_active"]
    t.log("%d clients: %d ok, %d failed, %d unfinished in %.2fs; backend peak %d concurrent"
          % (N, N - len(pending), len(failures), len(pending) - len(failures), dt, peak))
    t.check(not failures, "failures (first 10): %s" % failures[:10])
    t.check(not pending, "unfinished clients after 20s: %d (first: %s)" % (len(pending), pending[:10]))
    t.check(peak >= N // 2, "backend never had more than %d concurrent connections" % peak)
    for s in clients:
        s.close()
    sel.close()
    t.check(lb.alive(), "tcplb died")


run(test)
