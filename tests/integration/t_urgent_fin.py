"""Many TCP urgent marks with the sender's FIN already queued at tcplb
(issue 22, item 14).  Once the FIN has arrived, splice() at an urgent mark
returns 0 instead of EAGAIN; taking that 0 as EOF cut the stream at the
mark: the receiver saw a clean FIN after a short stream.  Both
directions, over real TCP (socketpairs have no urgent data); the sha256 of
every byte sent (urgent ones included, delivered inline) must match what
arrived."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *

TOTAL = 24 << 20
MARKS = 36


def send_with_marks(s, blob):
    """Sends blob; MARKS of its bytes go out as urgent bytes, the last one
    close to the end so that it is still queued at tcplb with the FIN."""
    step = len(blob) // MARKS
    cuts = [step * i for i in range(1, MARKS)] + [len(blob) - 4096]
    pos = 0
    for c in cuts:
        s.sendall(blob[pos:c])
        s.send(blob[c:c + 1], socket.MSG_OOB)
        pos = c + 1
    s.sendall(blob[pos:])
    s.shutdown(socket.SHUT_WR)


def one_way(t, label, sender, receiver):
    blob = os.urandom(TOTAL)
    err = []

    def send():
        try:
            send_with_marks(sender, blob)
        except OSError as e:
            err.append(e)

    th = threading.Thread(target=send, daemon=True)
    th.start()
    # The receiver starts late: the path fills up, tcplb switches to
    # splice, and the sender's last marks and FIN wait in tcplb's socket.
    time.sleep(0.5)
    receiver.settimeout(30)
    got = hashlib.sha256()
    n = 0
    reset = False
    try:
        while True:
            d = receiver.recv(1 << 20)
            if not d:
                break
            got.update(d)
            n += len(d)
    except OSError as e:
        reset = True
        t.log("%s: receiver: %s" % (label, e))
    th.join(30)
    t.log("%s: %d of %d bytes arrived" % (label, n, TOTAL))
    t.check(not err, "%s: the sender failed: %s" % (label, err))
    t.check(not reset, "%s: the receiver was reset" % label)
    t.check(n == TOTAL, "%s: %d bytes lost" % (label, TOTAL - n))
    t.check(got.hexdigest() == hashlib.sha256(blob).hexdigest(),
            "%s: sha256 differs" % label)


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
        if client_sends:
            one_way(t, label, s, srv)
        else:
            one_way(t, label, srv, s)
        s.close()
        srv.close()
    t.check(lb.alive(), "tcplb died")


run(test, timeout=120)
