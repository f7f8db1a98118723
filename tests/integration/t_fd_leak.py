"""No descriptor leak: the fd count of tcplb is the same before and after
2,000 connections mixing normal close, client reset, backend reset and a
refusing backend."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *

N = 2000
THREADS = 8


def resetter(c, b):
    try:
        c.recv(100)
    except OSError:
        pass
    rst_close(c)


def one(t, addr, kind):
    s = connect(addr, timeout=3)
    try:
        s.sendall(b"hello")
        if kind == 0:        # normal: read what comes (echo, reset or close), close
            try:
                s.settimeout(2)
                s.recv(100)
            except OSError:
                pass
            s.close()
        elif kind == 1:      # client reset right away
            rst_close(s)
        elif kind == 2:      # client half-closes, then reads to the end
            s.shutdown(socket.SHUT_WR)
            recv_until_eof(s, timeout=2)
            s.close()
        else:                # client closes without waiting
            s.close()
    except OSError:
        s.close()


def test(t):
    raise_nofile(8192)
    echo = t.backend("echo")
    rst = t.thread_backend(resetter, name="resetter")
    dead = refused_port()
    lb = t.start_quick([echo.hostport, rst.hostport, "127.0.0.1:%d" % dead],
                       extra=["-w", "2"])
    # warm up so lazily created descriptors exist, then take the baseline
    for k in range(40):
        one(t, lb.addr, k % 4)
    wait_until(lambda: echo.stats()["active"] == 0 and rst.active == 0, 3)
    time.sleep(0.5)
    base = lb.fd_count()
    t.log("baseline: %d fds" % base)
    errors = []

    def worker(w):
        try:
            for k in range(w, N, THREADS):
                one(t, lb.addr, k % 4)
        except Exception as e:
            errors.append(repr(e))

    ths = [threading.Thread(target=worker, args=(w,), daemon=True) for w in range(THREADS)]
    t0 = time.monotonic()
    for th in ths:
        th.start()
    for th in ths:
        th.join(60)
    t.check(not any(th.is_alive() for th in ths), "client threads did not finish in 60s")
    t.log("%d connections in %.2fs; client errors: %d %s" % (N, time.monotonic() - t0,
                                                            len(errors), errors[:3]))
    peak = lb.fd_count()
    ok = wait_until(lambda: lb.fd_count() == base, 8, 0.1)
    after = lb.fd_count()
    t.log("fds: baseline %d, right after %d, settled %d" % (base, peak, after))
    if not ok:
        fds = lb.fds()
        t.log("open fds now:", sorted(fds.items()))
    t.eq(after, base, "fd count after %d connections" % N)
    t.check(lb.alive(), "tcplb died")
    t.check(not errors, "client errors (connect failures?): %s" % errors[:5])
    # still serving
    s = connect(lb.addr)
    s.close()


run(test, timeout=120)
