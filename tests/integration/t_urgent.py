"""A TCP urgent byte (send(MSG_OOB)) in a flow that has switched to
splice(): splice stops at the urgent mark, so tcplb must forward the rest
of the stream another way -- and not spin on a socket that stays
readable.  Either peer may send it.  Every byte, the urgent one included
(tcplb delivers it in order, as an ordinary byte), must arrive, and tcplb's
CPU time must stay low."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *

BULK = 8 << 20
AFTER = b"after the mark " * 1000


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[11], fields[12]: utime, stime (clock ticks)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pipes(lb):
    return sum(1 for v in lb.fds().values() if v.startswith("pipe:"))


class Reader:
    """Reads a socket into memory on a thread."""

    def __init__(self, s):
        self.s = s
        self.data = bytearray()
        self.lock = threading.Lock()
        self.th = threading.Thread(target=self._run, daemon=True)
        self.th.start()

    def _run(self):
        self.s.settimeout(30)
        try:
            while True:
                d = self.s.recv(1 << 20)
                if not d:
                    return
                with self.lock:
                    self.data += d
        except OSError:
            return

    def n(self):
        with self.lock:
            return len(self.data)


def one_way(t, lb, label, sender, receiver):
    bulk = os.urandom(BULK)
    # The receiver starts late: the path fills up, so tcplb's reads fill
    # whole buffers once it drains, and the flow switches to splice
    # whatever the machine's load.
    th = threading.Thread(target=sender.sendall, args=(bulk,), daemon=True)
    th.start()
    time.sleep(0.3)
    r = Reader(receiver)
    t.check(wait_until(lambda: r.n() >= BULK, 20), "%s: bulk did not arrive (%d of %d)"
            % (label, r.n(), BULK))
    th.join(5)
    t.check(pipes(lb) >= 2, "%s: the bulk flow never switched to splice" % label)
    c0 = cpu_s(lb.pid)
    t0 = time.monotonic()
    sender.send(b"!", socket.MSG_OOB)
    sender.sendall(AFTER)
    want = bulk + b"!" + AFTER
    arrived = wait_until(lambda: r.n() >= len(want), 5)
    time.sleep(1.0)             # a spinning worker would burn this second
    cpu = cpu_s(lb.pid) - c0
    dt = time.monotonic() - t0
    with r.lock:
        got = bytes(r.data)
    t.log("%s: %d of %d bytes after the urgent byte arrived; tcplb used %.2fs CPU in %.2fs"
          % (label, max(0, len(got) - BULK - 1), len(AFTER), cpu, dt))
    t.check(arrived, "%s: the stream stopped at the urgent mark (%d of %d bytes)"
            % (label, len(got), len(want)))
    t.check(got == want, "%s: bytes differ from what was sent" % label)
    t.check(cpu < 0.3, "%s: tcplb used %.2fs of CPU in %.2fs (spinning)" % (label, cpu, dt))


def test(t):
    conns = []

    def handler(c, b):
        conns.append(c)
        time.sleep(60)

    b = t.thread_backend(handler, conn_timeout=60)
    port = free_port()
    lb = t.start_config("""\
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    servers: [ "%s" ]
""" % (port, b.hostport))
    for label, client_sends in (("client to server", True), ("server to client", False)):
        s = connect(("127.0.0.1", port), timeout=30)
        t.add_closer(s)
        t.check(wait_until(lambda: len(conns) == 1, 3), "backend got no connection")
        srv = conns.pop()
        srv.settimeout(30)
        if client_sends:
            one_way(t, lb, label, s, srv)
        else:
            one_way(t, lb, label, srv, s)
        s.close()
        srv.close()
    t.check(lb.alive(), "tcplb died")


run(test, timeout=90)
