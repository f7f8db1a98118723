"""A peer that resets while tcplb is writing to it never kills tcplb
(SIGPIPE/EPIPE): client resets during a download, backend resets during an
upload."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *

BLOCK = os.urandom(1 << 16)


def handler(c, b):
    try:
        if b.mode == "download":
            for _ in range(400):             # up to 25 MiB
                c.sendall(BLOCK)
        else:
            c.recv(1 << 16)
            time.sleep(0.05)
            rst_close(c)
    except OSError:
        pass


def test(t):
    b = t.thread_backend(handler, conn_timeout=5)
    lb = t.start_quick([b.hostport], extra=["-w", "2"])
    b.mode = "download"
    for i in range(15):
        s = connect(lb.addr)
        recv_exact(s, 100000, 3)
        rst_close(s)
    time.sleep(0.3)
    t.log("download phase done")
    t.check(lb.alive(), "tcplb died (status %s) after clients reset during downloads" % lb.proc.returncode)
    b.mode = "upload"
    for i in range(15):
        s = connect(lb.addr)
        try:
            for _ in range(200):
                s.sendall(BLOCK)
        except OSError:
            pass
        s.close()
    time.sleep(0.3)
    t.log("upload phase done")
    t.check(lb.alive(), "tcplb died (status %s) after backends reset during uploads" % lb.proc.returncode)
    b.mode = "download"
    s = connect(lb.addr)
    t.eq(len(recv_exact(s, 1 << 16, 3)), 1 << 16, "still relaying")
    s.close()


run(test)
