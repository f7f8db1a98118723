"""UDP across reloads: clients keep sending through five reloads (which
add and remove a server) and not one datagram is lost; every flow keeps
its server; a reload that removes a server ends its flows and their
clients continue on the others; a binary upgrade (SIGUSR2) hands the UDP socket
over and the new process answers on it."""
import sys, os, re, socket, threading
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from udplib import *


CFG = """\
listeners:
  u:
    bind: 127.0.0.1:%d
    protocol: udp
    pool: p
pools:
  p:
    idle_timeout: 30s
    servers: [%s]
"""


def test(t):
    a = t.add_closer(UdpBackend("A"))
    b = t.add_closer(UdpBackend("B"))
    c_ = t.add_closer(UdpBackend("C"))
    port = free_udp_port()
    p = t.start_config(CFG % (port, ", ".join([a.hostport, b.hostport])), extra=["-w", "2"])
    target = ("127.0.0.1", port)
    clients = [UdpClient(target, timeout=1.0) for _ in range(8)]
    first = {}
    for i, c in enumerate(clients):
        r, _ = c.ask(b"hello")
        t.check(r is not None, "client %d: no first reply" % i)
        first[i] = r.split(b"|")[0]
    stop = threading.Event()
    errors = []
    counts = [0] * len(clients)

    def sender(i, c):
        n = 0
        while not stop.is_set():
            n += 1
            r, _ = c.ask(b"n%d" % n)
            if r is None:
                errors.append("client %d: datagram %d lost" % (i, n))
                return
            name, _, echo = r.partition(b"|")
            if echo != b"n%d" % n:
                errors.append("client %d: reply %r to n%d" % (i, r, n))
                return
            if name != first[i]:
                errors.append("client %d moved from %r to %r" % (i, first[i], name))
                return
            counts[i] += 1
            time.sleep(0.002)

    ths = [threading.Thread(target=sender, args=(i, c), daemon=True) for i, c in enumerate(clients)]
    for th in ths:
        th.start()
    for k in range(5):
        time.sleep(0.3)
        servers = [a.hostport, b.hostport] if k % 2 == 1 else [a.hostport, b.hostport, c_.hostport]
        t.reload(p, CFG % (port, ", ".join(servers)))
    time.sleep(0.3)
    stop.set()
    for th in ths:
        th.join(5)
    t.log("datagrams per client:", counts)
    t.check(not errors, "; ".join(errors[:5]))
    t.check(min(counts) > 20, "a client made only %d round trips" % min(counts))
    # new clients now follow the last file: B and C
    names = set()
    for i in range(4):
        c = UdpClient(target)
        r, _ = c.ask(b"new")
        names.add(r.split(b"|")[0])
        c.close()
    t.eq(names, {b"A", b"B", b"C"}, "new flows after the reloads")

    # a reload that removes A: A's flows end ("server removed") and the
    # next datagram of each of its clients starts a flow on B or C; the
    # other clients keep their server
    t.reload(p, CFG % (port, ", ".join([b.hostport, c_.hostport])))
    t.check(p.wait_stderr(r'server=%s .*end="server removed"' % re.escape(a.hostport), 3),
            "no flow ended as removed")
    for i, c in enumerate(clients):
        r, _ = c.ask(b"after-removal")
        t.check(r is not None, "client %d: no reply after A was removed" % i)
        name = r.split(b"|")[0]
        if first[i] == b"A":
            t.check(name in (b"B", b"C"), "client %d still on A" % i)
        else:
            t.eq(name, first[i], "client %d moved although its server stayed" % i)

    # a reload that adds a UDP listener, then one that removes it: the
    # removed listener's flow ends and its port is free again
    port2 = free_udp_port()
    cfg2 = (CFG % (port, ", ".join([b.hostport, c_.hostport]))).replace(
        "listeners:\n",
        "listeners:\n  u2:\n    bind: 127.0.0.1:%d\n    protocol: udp\n    pool: p\n" % port2)
    t.reload(p, cfg2)
    c2 = UdpClient(("127.0.0.1", port2))
    t.check(c2.ask(b"x")[0] is not None, "the added listener does not answer")
    t.reload(p, CFG % (port, ", ".join([b.hostport, c_.hostport])))
    t.check(p.wait_stderr(r'listener=u2 .*end="listener removed"', 3), "u2's flow did not end")
    def port_free():
        s_ = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s_.bind(("127.0.0.1", port2))
            return True
        except OSError:
            return False
        finally:
            s_.close()
    t.check(wait_until(port_free, 3), "the removed listener's port is still bound")
    c2.close()

    # binary upgrade: the new process gets the socket and answers
    old_pid = p.pid
    p.signal(signal.SIGUSR2)
    t.check(p.wait_stderr(r"upgrade|handed over|new process", 10), "no upgrade log")
    ok = False
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        c = UdpClient(target, timeout=0.5)
        r, _ = c.ask(b"after")
        c.close()
        if r is not None and r.split(b"|")[1] == b"after":
            ok = True
        if ok and not p.alive():
            break
        time.sleep(0.2)
    t.check(ok, "nobody answers after the upgrade")
    t.check(wait_until(lambda: not p.alive(), 10), "old process %d still running" % old_pid)
    c = UdpClient(target)
    r, _ = c.ask(b"later")
    t.check(r is not None, "the new process does not answer on the handed-over socket")
    c.close()
    for c in clients:
        c.close()


if __name__ == "__main__":
    run(test, timeout=60)
