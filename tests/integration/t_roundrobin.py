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
    # the default (no -b) and -b roundrobin are the same
    lb = t.start_quick([b.hostport for b in bs], extra=["-b", "roundrobin", "-w", "2"])
    seq = [t.identify(lb.addr) for _ in range(12)]
    check_rotation(t, seq, names, "-b roundrobin")


run(test)
