"""Out of descriptors at the server side: when accept() takes the last free
descriptor, socket() for the server fails.  That client must wait for a
descriptor (accepts pause, the rest of the queue waits in the kernel), not be
dropped -- and once descriptors come free, everyone is served."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def one_limit(t, a, nofile):
    lb = t.start_quick([a.hostport], extra=["-w", "1"], nofile=nofile)
    clients = []
    for _ in range(20):
        s = connect(lb.addr, timeout=2)
        t.add_closer(s)
        clients.append(s)
    time.sleep(0.5)
    served, dropped, waiting = [], 0, []
    for s in clients:
        try:
            s.settimeout(0.05)
            d = s.recv(16)
            if d.startswith(b"A"):
                served.append(s)
            else:
                dropped += 1
        except socket.timeout:
            waiting.append(s)
        except OSError:
            dropped += 1
    t.log("nofile %d: %d served, %d dropped, %d waiting (tcplb %d fds)"
          % (nofile, len(served), dropped, len(waiting), lb.fd_count()))
    t.eq(dropped, 0, "clients dropped while out of descriptors (nofile %d)" % nofile)
    t.check(lb.alive(), "tcplb died")
    # Descriptors come free: the waiting clients are served in turn.
    for s in served:
        s.close()
    # Each one served leaves again, making room for the next.
    late = 0
    for s in waiting:
        if recv_line(s, 3.0) == "A":
            late += 1
        s.close()
    t.eq(late, len(waiting), "waiting clients served once descriptors came free")
    lb.stop()


def test(t):
    a = t.identify_backend("A")
    # Which limit makes socket() (rather than accept()) hit EMFILE depends
    # on how many descriptors the process starts with (sanitizer builds
    # differ): measure that, then try limits of both parities above it.
    probe = t.start_quick([a.hostport], extra=["-w", "1"])
    base = probe.fd_count() + 10
    probe.stop()
    for nofile in range(base, base + 4):
        one_limit(t, a, nofile)


run(test)
