"""Quick mode, roundrobin over 3 equal backends: the order rotates exactly,
with one worker and with two (one decision across workers)."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def check_rotation(t, seq, names, label):
    t.check(None not in seq, "%s: a connection was not served: %s" % (label, seq))
    order = seq[:len(names)]
    t.eq(sorted(order), sorted(names), "%s: first %d picks must be distinct" % (label, len(names)))
    want = [order[i % len(names)] for i in range(len(seq))]
    t.check(seq == want, "%s: order is not an exact rotation:\n got  %s\n want %s"
            % (label, seq, want))


def test(t):
    bs = [t.identify_backend(n) for n in ("A", "B", "C")]
    names = [b.name for b in bs]
    for workers, n in (("1", 9), ("2", 30), ("auto", 30)):
        lb = t.start_quick([b.hostport for b in bs], extra=["-w", workers])
        seq = [t.identify(lb.addr) for _ in range(n)]
        t.log("-w %s: %s" % (workers, " ".join(str(x) for x in seq)))
        check_rotation(t, seq, names, "-w %s" % workers)
        # exactly one line on stdout
        rc = lb.stop()
        t.eq(rc, 0, "exit status after SIGTERM")
        lines = [l for l in lb.stdout().split("\n") if l.strip()]
        t.eq(len(lines), 1, "stdout must hold exactly one line, got %r" % lines)
    # concurrent clients on 2 workers: one shared decision, so exactly 1/3 each
    lb = t.start_quick([b.hostport for b in bs], extra=["-w", "2"])
    res = []
    lock = threading.Lock()

    def client():
        got = [t.identify(lb.addr) for _ in range(50)]
        with lock:
            res.extend(got)

    ths = [threading.Thread(target=client, daemon=True) for _ in range(6)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(20)
    counts = {n: res.count(n) for n in names + [None]}
    t.log("300 concurrent connections on 2 workers:", counts)
    t.eq(counts, {"A": 100, "B": 100, "C": 100, None: 0}, "counts over 300 concurrent connections")
    lb.stop()

    # the default (no -b) and -b roundrobin are the same
    lb = t.start_quick([b.hostport for b in bs], extra=["-b", "roundrobin", "-w", "2"])
    seq = [t.identify(lb.addr) for _ in range(12)]
    check_rotation(t, seq, names, "-b roundrobin")


run(test)
