"""An active/active tier behind ECMP (issue 14), in network namespaces.

    clients+router (r)  --ra/ar-->  tcplb A (a) --ad/da-->
      VIP via A and B   --rb/br-->  tcplb B (b) --bd/db-->  backends (d)

The router namespace holds a kernel multipath route to the virtual address
(`nexthop via A nexthop via B`, fib_multipath_hash_policy=1: L4 hash), the
clients use 32 source addresses there.  Each instance runs
contrib/bird/tcplb-anycast, whose announce/withdraw commands the test
turns into next hops of that route (it plays BGP and the router).  A and B each run tcplb bound to the
VIP (on their loopback), `balance: source` over the same three backends,
listed in opposite orders.  The backends answer "NAME PEER" where PEER is
the tcplb instance that connected to them.

Asserts: new flows spread over both instances (the share is printed); every
client address reaches the same backend whichever instance took the flow;
after `tcplb ctl drain` on A (check fails, A still serves) and removal of
A's next hop, no new connection fails,
new flows all go to B, and open sessions finish.  A session still open on
A when its next hop goes is rerouted to B and reset: that is what the docs
say happens to established connections when an instance leaves, and it is
asserted here so the docs stay true."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from netns import Lab, tell_backend

VIP = "10.77.255.1"
PORT = 8000
A_UP, B_UP = "10.77.1.2", "10.77.2.2"          # next hops, as the router sees them
A_DOWN, B_DOWN = "10.77.3.1", "10.77.4.1"      # tcplb's source toward the backends
BACKENDS = [("s1", "10.77.5.1"), ("s2", "10.77.5.2"), ("s3", "10.77.5.3")]
CLIENTS = ["10.77.100.%d" % i for i in range(1, 33)]
INSTANCE = {A_DOWN: "A", B_DOWN: "B"}

CFG = """\
global:
  admin_socket: %(sock)s
  shutdown_timeout: 3s
listeners:
  vip: {bind: "%(vip)s:%(port)d", pool: app}
pools:
  app:
    balance: source
    servers:
%(servers)s"""


def topology(t, lab):
    r, a, b, d = (lab.ns(x) for x in ("r", "a", "b", "d"))
    lab.veth(r, "r2a", "10.77.1.1/24", a, "a2r", A_UP + "/24")
    lab.veth(r, "r2b", "10.77.2.1/24", b, "b2r", B_UP + "/24")
    lab.veth(a, "a2d", A_DOWN + "/24", d, "d2a", "10.77.3.2/24")
    lab.veth(b, "b2d", B_DOWN + "/24", d, "d2b", "10.77.4.2/24")
    lab.sysctl(r, "net.ipv4.fib_multipath_hash_policy", 1)
    lab.batch(r, ["addr add %s/32 dev lo" % c for c in CLIENTS])
    for ns, gw_up, gw_down in ((a, "10.77.1.1", "10.77.3.2"), (b, "10.77.2.1", "10.77.4.2")):
        lab.batch(ns, ["addr add %s/32 dev lo" % VIP,
                       "route add default via %s" % gw_up,
                       "route add 10.77.5.0/24 via %s" % gw_down])
    lab.batch(d, ["addr add %s/32 dev lo" % ip for _n, ip in BACKENDS] +
              ["route add 10.77.1.0/24 via 10.77.3.1",
               "route add 10.77.2.0/24 via 10.77.4.1"])
    return r, a, b, d


class Router:
    """Plays BGP and the upstream router: each instance's
    contrib/bird/tcplb-anycast announces (ANNOUNCE creates NAME.up) or
    withdraws (WITHDRAW removes it); this thread keeps the multipath route
    in r equal to the announced set.  Withdrawals wait for `release` (the
    test's stand-in for propagation delay), so that the window in which a
    drained instance still gets traffic is there for the test to use."""

    def __init__(self, t, lab, r):
        self.t, self.lab, self.r = t, lab, r
        self.release = threading.Event()
        self.events = []           # (before, after, set of instances)
        self.installed = frozenset()
        self.stop = threading.Event()
        self.errors = []
        self.th = threading.Thread(target=self.loop, daemon=True)
        self.th.start()

    def announced(self):
        return frozenset(i for i in ("A", "B") if os.path.exists(self.t.path(i + ".up")))

    def loop(self):
        deadline = time.monotonic() + 80
        while not self.stop.is_set() and time.monotonic() < deadline:
            want = self.announced()
            if not self.release.is_set():
                want |= self.installed
            if want != self.installed:
                t0 = time.monotonic()
                try:
                    if want:
                        hops = []
                        for i in sorted(want):
                            hops += ["nexthop", "via", {"A": A_UP, "B": B_UP}[i]]
                        self.lab.ip(self.r, "route", "replace", VIP + "/32", *hops)
                    else:
                        self.lab.ip(self.r, "route", "del", VIP + "/32")
                except Exception as e:
                    self.errors.append(repr(e))
                    return
                self.installed = want
                self.events.append((t0, time.monotonic(), want))
            self.stop.wait(0.02)

    def close(self):
        self.stop.set()
        self.th.join(5)


def start_tcplb(t, lab, ns, name, servers):
    sock = t.path(name + ".sock")
    cfg = t.write(name + ".yaml", CFG % dict(
        sock=sock, vip=VIP, port=PORT,
        servers="".join("      - {address: \"%s:%d\", name: %s}\n" % (ip, PORT, n)
                        for n, ip in servers)))
    workers = os.environ.get("TCPLB_TEST_WORKERS") or "2"
    p = t.start(["-c", cfg, "--log-target", "stderr", "-w", workers], name=name,
                argv0=lab.exec_argv(ns, [t.bin]))
    p.sock = sock
    ok = wait_until(lambda: t.ctl(sock, "check")[0] == 0 or not p.alive(), timeout=10)
    if not ok or not p.alive():
        raise TestFailure("tcplb %s never passed 'tcplb ctl check'" % name)
    return p


def test(t):
    lab = Lab(t)
    r, a, b, d = topology(t, lab)
    with lab.inside(d):
        for n, ip in BACKENDS:
            t.thread_backend(tell_backend, name=n, host=ip, port=PORT)
    lb_a = start_tcplb(t, lab, a, "A", BACKENDS)
    lb_b = start_tcplb(t, lab, b, "B", list(reversed(BACKENDS)))
    router = t.add_closer(Router(t, lab, r))
    script = os.path.abspath(os.path.join(t.srcdir, "contrib", "bird", "tcplb-anycast"))
    for name, lb in (("A", lb_a), ("B", lb_b)):
        up = t.path(name + ".up")
        t.start([script], name="anycast-" + name, argv0=["sh"], env={
            "CHECK": "timeout 2 %s ctl -s %s check" % (t.bin, lb.sock),
            "ANNOUNCE": "touch %s" % up, "WITHDRAW": "rm -f %s" % up,
            "INTERVAL": "0.2", "RISE": "2", "FALL": "1"})
    t.check(wait_until(lambda: router.installed == {"A", "B"}, timeout=10),
            "tcplb-anycast never announced both instances: %s" % router.errors)
    t.log("route in r:", lab.ip(r, "route", "show", VIP + "/32").strip().replace("\n", " "))

    def open_flow(src, timeout=3.0):
        with lab.inside(r):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.bind((src, 0))
            s.connect((VIP, PORT))
        except BaseException:
            s.close()
            raise
        line = recv_line(s, timeout)
        if line is None or len(line.split()) != 2:
            s.close()
            raise TestFailure("flow from %s: no greeting (%r)" % (src, line))
        backend, peer = line.split()
        return s, backend, INSTANCE.get(peer, peer)

    def flow(src):
        s, backend, inst = open_flow(src)
        s.close()
        return backend, inst

    # 1. spread and agreement
    seen = {c: {"A": set(), "B": set()} for c in CLIENTS}
    share = {"A": 0, "B": 0}
    for _round in range(8):
        for c in CLIENTS:
            backend, inst = flow(c)
            share[inst] += 1
            seen[c][inst].add(backend)
    total = share["A"] + share["B"]
    t.log("flows: %d; instance A took %d (%.1f%%), B took %d (%.1f%%)" % (
        total, share["A"], 100.0 * share["A"] / total, share["B"], 100.0 * share["B"] / total))
    for inst in ("A", "B"):
        t.check(0.30 <= share[inst] / total <= 0.70,
                "instance %s took %d of %d flows: ECMP did not spread them" % (inst, share[inst], total))
    # every client address until it has been served by both instances (bounded)
    for c in CLIENTS:
        for _ in range(24):
            if seen[c]["A"] and seen[c]["B"]:
                break
            backend, inst = flow(c)
            seen[c][inst].add(backend)
        t.check(seen[c]["A"] and seen[c]["B"], "%s never reached both instances" % c)
        picks = seen[c]["A"] | seen[c]["B"]
        t.check(len(picks) == 1, "client %s: instance A picked %s, B picked %s" % (
            c, sorted(seen[c]["A"]), sorted(seen[c]["B"])))
    per_backend = {}
    for c in CLIENTS:
        per_backend.setdefault(next(iter(seen[c]["A"])), []).append(c)
    t.log("source picks agree on both instances for %d client addresses: %s" % (
        len(CLIENTS), ", ".join("%s %d" % (k, len(v)) for k, v in sorted(per_backend.items()))))
    t.check(len(per_backend) >= 2, "every client on one backend: the test proves nothing")

    # 2. drain A, then withdraw its next hop
    held = {"A": [], "B": []}
    for i in range(40):
        if len(held["A"]) >= 3 and len(held["B"]) >= 2:
            break
        s, backend, inst = open_flow(CLIENTS[i % len(CLIENTS)])
        t.add_closer(s)
        held[inst].append(s)
    t.check(len(held["A"]) >= 3 and len(held["B"]) >= 2, "could not hold sessions on both")

    log = []            # (start, end, instance or error text), one per flow
    stop = threading.Event()

    def clients():
        deadline = time.monotonic() + 30
        i = 0
        while not stop.is_set() and time.monotonic() < deadline:
            src = CLIENTS[i % len(CLIENTS)]
            i += 1
            t0 = time.monotonic()
            try:
                s, backend, inst = open_flow(src)
                s.sendall(b"x")
                ok = recv_exact(s, 1, 3) == b"x"
                s.close()
                log.append((t0, time.monotonic(), inst if ok else "no echo from " + inst))
            except Exception as e:
                log.append((t0, time.monotonic(), "%s: %r" % (src, e)))
    th = threading.Thread(target=clients, daemon=True)
    th.start()
    try:
        rc, out, err = t.ctl(lb_a.sock, "drain")
        t.eq(rc, 0, "drain A: " + err)
        t_drain = time.monotonic()
        t.eq(t.ctl(lb_a.sock, "check")[0], 1, "check on the draining instance")
        t.eq(t.ctl(lb_b.sock, "check")[0], 0, "check on the other instance")
        t.check(re.search(r"^state: draining$", admin_send(lb_a.sock, "show info"), re.M),
                "show info on A: state draining")
        # tcplb-anycast sees the check fail and withdraws; the route takes a
        # moment to go (held back here): A keeps accepting meanwhile
        t.check(wait_until(lambda: router.announced() == {"B"}, timeout=5),
                "tcplb-anycast did not withdraw the drained instance")
        t.check(wait_until(lambda: sum(1 for t0, t1, x in log if t0 > t_drain and x == "A") >= 10,
                           timeout=10), "A served no new flow while draining")
        for s in held["A"][1:]:          # sessions on A finish while it drains
            t.check(t.echo_ok(s, b"bye"), "open session on A served while draining")
            s.shutdown(socket.SHUT_WR)
            data, how = recv_until_eof(s, 3)
            t.eq((data, how), (b"", "eof"), "session on A ends cleanly")
        # the withdrawal reaches the router: one next hop left
        router.release.set()
        t.check(wait_until(lambda: router.installed == {"B"}, timeout=5),
                "the router never removed A: %s" % router.errors)
        t_wd0, t_wd, _ = router.events[-1]
        t.log("drain at +%.3fs, next hop A removed at +%.3fs" % (t_drain - t.t0, t_wd - t.t0))
        t.check(wait_until(lambda: sum(1 for t0, t1, x in log if t0 > t_wd) >= 40, timeout=15),
                "too few flows after the withdrawal")
    finally:
        stop.set()
        th.join(10)
    # A flow in flight while the route changes is an established connection
    # whose next hop went away: lost, like the held one below.  Every other
    # flow, before or after, must have been served.
    crossing = [x for t0, t1, x in log if t0 < t_wd and t1 > t_wd0]
    failures = [x for t0, t1, x in log if x not in ("A", "B") and not (t0 < t_wd and t1 > t_wd0)]
    t.log("flows during the drain: %d, failed: %d; %d in flight across the route change, "
          "%d of them lost" % (len(log), len(failures), len(crossing),
                               sum(1 for x in crossing if x not in ("A", "B"))))
    t.check(not failures, "connections failed during the drain: %s" % failures[:5])
    after = [x for t0, t1, x in log if t0 > t_wd]
    t.check(after and all(x == "B" for x in after),
            "flows still reached A after its next hop went: %s" % after.count("A"))
    for s in held["B"]:
        t.check(t.echo_ok(s, b"still here"), "open session on B served after the withdrawal")
        s.shutdown(socket.SHUT_WR)
        t.eq(recv_until_eof(s, 3), (b"", "eof"), "session on B ends cleanly")
    # the documented loss: a session still open on A now reaches B, which
    # knows nothing of it and resets it (TCP state lives in A's kernel)
    lost = held["A"][0]
    try:
        lost.sendall(b"?")
        data, how = recv_until_eof(lost, 3)
    except OSError as e:
        data, how = b"", "reset" if e.errno == errno.ECONNRESET else repr(e)
    t.eq(how, "reset", "a session open on A when its next hop went")
    lost.close()
    # A gets no packet any more; what it still holds are the halves of the
    # lost sessions, cut by its shutdown_timeout (the upgrade happens next)
    t.log("sessions left on A after the withdrawal: %d (orphans of lost ones)"
          % admin_json(lb_a.sock, "show info")["active_connections"])
    lb_a.signal(signal.SIGTERM)
    t.eq(lb_a.wait(8), 0, "A stops cleanly")


run(test, timeout=90)
