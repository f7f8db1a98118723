"""The BGP tier with real routers (issue 27): BIRD 2 in network namespaces.

    clients + router (r)       tier segment 198.51.100.0/24 (bridge in r)
      BIRD: 4 BGP sessions,  --ra/ar-- A 198.51.100.11  --ad/da--
      kernel ECMP (merge     --rb/br-- B 198.51.100.12  --bd/db--  backends (d)
      paths), L4 hash          (each: tcplb on VIP 192.0.2.10, BIRD with the
      198.51.100.1 and .2       shipped contrib/bird/bird.conf, and the
                                shipped contrib/bird/tcplb-anycast)

The router plays both upstreams of the shipped bird.conf (198.51.100.1 and
.2), so every instance's configuration is the shipped file with only its
own addresses filled in (router id, local).  The backends answer "NAME
PEER", PEER telling which instance connected.

Asserts: the VIP is installed in r with two next hops and new flows split
over both instances; `tcplb ctl drain` on A withdraws A's next hop (the
time is measured and bounded) and new flows stop reaching A; `undrain`
brings it back; killing tcplb A (SIGKILL) withdraws within the bound that
tcplb(8) documents (INTERVAL x FALL + BGP propagation); a machine whose
link goes silent is withdrawn within bird.conf's hold time (9 s)."""
import sys, os, re, signal, shutil, socket, threading, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from netns import Lab, tell_backend

VIP = "192.0.2.10"
PORT = 8000
INST = {"A": "198.51.100.11", "B": "198.51.100.12"}
DOWN = {"A": ("10.79.3.1", "10.79.3.2"), "B": ("10.79.4.1", "10.79.4.2")}
INSTANCE = {DOWN["A"][0]: "A", DOWN["B"][0]: "B"}
BACKENDS = [("s1", "10.79.5.1"), ("s2", "10.79.5.2")]
CLIENTS = ["10.79.100.%d" % i for i in range(1, 33)]
# the bound tcplb(8) documents for the defaults of tcplb-anycast
# (INTERVAL=1, FALL=1): the next check, plus BGP propagation
WITHDRAW_BOUND = 3.0

TCPLB_CFG = """\
global:
  admin_socket: %(sock)s
  shutdown_timeout: 2s
listeners:
  vip: {bind: "%(vip)s:%(port)d", pool: app}
pools:
  app:
    balance: source
    servers:
%(servers)s"""

ROUTER_CFG = """\
router id 198.51.100.1;
protocol device { }
protocol kernel {
    ipv4 { import none; export all; };
    merge paths on;              # one route, a next hop per tier machine
}
template bgp tier {
    local as 65000;
    hold time 9;
    ipv4 { import all; export none; };
}
protocol bgp a1 from tier { local 198.51.100.1 as 65000; neighbor 198.51.100.11 as 65010; }
protocol bgp a2 from tier { local 198.51.100.2 as 65000; neighbor 198.51.100.11 as 65010; }
protocol bgp b1 from tier { local 198.51.100.1 as 65000; neighbor 198.51.100.12 as 65010; }
protocol bgp b2 from tier { local 198.51.100.2 as 65000; neighbor 198.51.100.12 as 65010; }
"""


def instance_conf(shipped, me):
    """The shipped bird.conf with this machine's addresses; nothing else."""
    out = shipped.replace("router id 198.51.100.11;", "router id %s;" % me)
    out = out.replace("local 198.51.100.11 as 65010;", "local %s as 65010;" % me)
    if me != "198.51.100.11":
        assert out != shipped
    # a test has no syslog daemon: log to stderr (captured by the test)
    return out.replace("log syslog all;", "log stderr all;")


def topology(lab):
    r, a, b, d = (lab.ns(x) for x in ("r", "a", "b", "d"))
    lab.ip(r, "link", "add", "br0", "type", "bridge")
    lab.ip(r, "link", "set", "br0", "up")
    lab.batch(r, ["addr add 198.51.100.1/24 dev br0",
                  "addr add 198.51.100.2/24 dev br0"] +
              ["addr add %s/32 dev lo" % c for c in CLIENTS])
    lab.sysctl(r, "net.ipv4.fib_multipath_hash_policy", 1)
    for name, ns in (("a", a), ("b", b)):
        lab.veth(r, "r2" + name, None, ns, name + "2r", INST[name.upper()] + "/24")
        lab.ip(r, "link", "set", "r2" + name, "master", "br0")
        lo, hi = DOWN[name.upper()]
        lab.veth(ns, name + "2d", lo + "/24", d, "d2" + name, hi + "/24")
        lab.batch(ns, ["addr add %s/32 dev lo" % VIP,
                       "route add default via 198.51.100.1",
                       "route add 10.79.5.0/24 via %s" % hi])
    lab.batch(d, ["addr add %s/32 dev lo" % ip for _n, ip in BACKENDS])
    return r, a, b, d


def start_bird(t, lab, ns, name, conf):
    path = t.write("bird-%s.conf" % name, conf)
    sock = t.path("bird-%s.ctl" % name)
    p = t.start(["-f", "-c", path, "-s", sock, "-P", t.path("bird-%s.pid" % name)],
                name="bird-" + name, argv0=lab.exec_argv(ns, ["bird"]))
    if not wait_until(lambda: os.path.exists(sock) or not p.alive(), timeout=10) or not p.alive():
        raise TestFailure("bird %s did not start: %s" % (name, p.stderr()[-500:]))
    p.sock = sock
    return p


def start_tcplb(t, lab, ns, name):
    sock = t.path(name + ".sock")
    cfg = t.write(name + ".yaml", TCPLB_CFG % dict(
        sock=sock, vip=VIP, port=PORT,
        servers="".join("      - {address: \"%s:%d\", name: %s}\n" % (ip, PORT, n)
                        for n, ip in BACKENDS)))
    p = t.start(["-c", cfg, "--log-target", "stderr", "-w", "2"], name=name,
                argv0=lab.exec_argv(ns, [t.bin]))
    p.sock = sock
    if not wait_until(lambda: t.ctl(sock, "check")[0] == 0 or not p.alive(), timeout=10):
        raise TestFailure("tcplb %s never passed 'tcplb ctl check'" % name)
    return p


def test(t):
    if shutil.which("bird") is None or shutil.which("birdc") is None:
        raise Skip("no bird/birdc (package bird2)")
    lab = Lab(t)
    r, a, b, d = topology(lab)
    with lab.inside(d):
        for n, ip in BACKENDS:
            t.thread_backend(tell_backend, name=n, host=ip, port=PORT)
    shipped = open(os.path.join(t.srcdir, "contrib", "bird", "bird.conf")).read()
    script = os.path.join(t.srcdir, "contrib", "bird", "tcplb-anycast")
    router = start_bird(t, lab, r, "r", ROUTER_CFG)
    lbs, birds = {}, {}
    for name, ns in (("A", a), ("B", b)):
        birds[name] = start_bird(t, lab, ns, name, instance_conf(shipped, INST[name]))
        lbs[name] = start_tcplb(t, lab, ns, name)

    def start_announcer(name):
        bs = birds[name].sock
        # the script's defaults (INTERVAL=1, RISE=2, FALL=1), with this
        # machine's sockets
        return t.start([script], name="anycast-" + name, argv0=["sh"], env={
            "CHECK": "timeout 2 %s ctl -s %s check" % (t.bin, lbs[name].sock),
            "ANNOUNCE": "birdc -s %s enable tcplb_vip" % bs,
            "WITHDRAW": "birdc -s %s disable tcplb_vip" % bs})
    announcers = {n: start_announcer(n) for n in ("A", "B")}

    def hops():
        out = lab.ip(r, "route", "show", VIP)
        return frozenset(k for k, ip in INST.items() if re.search(r"via %s\b" % re.escape(ip), out))

    t0 = time.monotonic()
    t.check(wait_until(lambda: hops() == {"A", "B"}, timeout=20),
            "the router never installed both next hops: %s\n%s" % (
                lab.ip(r, "route", "show", VIP),
                sh_birdc(router.sock, "show protocols")))
    t.log("VIP installed with two next hops %.1fs after start: %s" % (
        time.monotonic() - t0, lab.ip(r, "route", "show", VIP).strip().replace("\n", " ")))

    def flow(src, timeout=3.0):
        with lab.inside(r):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.bind((src, 0))
            s.connect((VIP, PORT))
            line = recv_line(s, timeout)
        finally:
            s.close()
        if line is None or len(line.split()) != 2:
            raise TestFailure("flow from %s: no greeting (%r)" % (src, line))
        return INSTANCE.get(line.split()[1], line)

    def share(n=128):
        got = {"A": 0, "B": 0}
        for i in range(n):
            got[flow(CLIENTS[i % len(CLIENTS)])] += 1
        return got

    # 1. traffic splits
    s = share()
    t.log("both announced: A took %d flows, B %d" % (s["A"], s["B"]))
    for k in ("A", "B"):
        t.check(s[k] >= 128 * 0.25, "instance %s took %d of 128 flows: no split" % (k, s[k]))

    # 2. drain A: the route goes, new flows reach B only
    rc, _out, err = t.ctl(lbs["A"].sock, "drain")
    t.eq(rc, 0, "drain A: " + err)
    t_drain = time.monotonic()
    t.check(wait_until(lambda: hops() == {"B"}, timeout=10),
            "the router kept A's next hop after the drain: %s" % lab.ip(r, "route", "show", VIP))
    withdraw_s = time.monotonic() - t_drain
    t.log("drain -> A's next hop gone from the router: %.2fs" % withdraw_s)
    t.check(withdraw_s <= WITHDRAW_BOUND, "withdrawal took %.2fs (bound %.1fs)" % (
        withdraw_s, WITHDRAW_BOUND))
    s = share(64)
    t.eq(s["A"], 0, "new flows reached the drained instance: %s" % s)

    # 3. undrain: back in (RISE=2 checks, then BGP)
    rc, _out, err = t.ctl(lbs["A"].sock, "undrain")
    t.eq(rc, 0, "undrain A: " + err)
    t_undrain = time.monotonic()
    t.check(wait_until(lambda: hops() == {"A", "B"}, timeout=10),
            "A's next hop did not come back after undrain")
    t.log("undrain -> A's next hop back: %.2fs" % (time.monotonic() - t_undrain))
    s = share(64)
    t.check(s["A"] > 0 and s["B"] > 0, "flows split again after undrain: %s" % s)

    # 4. tcplb A killed: the check fails at once, the route goes
    lbs["A"].kill()
    t_kill = time.monotonic()
    t.check(wait_until(lambda: hops() == {"B"}, timeout=10),
            "the router kept A's next hop after tcplb A was killed")
    kill_s = time.monotonic() - t_kill
    t.log("tcplb A killed -> next hop gone: %.2fs" % kill_s)
    t.check(kill_s <= WITHDRAW_BOUND, "withdrawal after a kill took %.2fs (bound %.1fs)" % (
        kill_s, WITHDRAW_BOUND))
    s = share(32)
    t.eq(s["A"], 0, "flows after the kill all on B: %s" % s)

    # 5. machine B dies (its link goes silent: no BGP goodbye): the router
    # withdraws it when the hold time (9 s in bird.conf) runs out
    lab.ip(b, "link", "set", "b2r", "down")
    t_dead = time.monotonic()
    t.check(wait_until(lambda: hops() == frozenset(), timeout=15),
            "the router kept B's next hop after B went silent")
    dead_s = time.monotonic() - t_dead
    t.log("machine B silent -> next hop gone: %.2fs (hold time 9 s)" % dead_s)
    t.check(dead_s <= 9 + 1.5, "withdrawal of a dead machine took %.2fs" % dead_s)
    for p in announcers.values():
        p.signal(signal.SIGTERM)
    lbs["B"].signal(signal.SIGTERM)
    t.eq(lbs["B"].wait(8), 0, "tcplb B stops cleanly")


def sh_birdc(sock, cmd):
    import subprocess
    r = subprocess.run(["birdc", "-s", sock] + cmd.split(), capture_output=True, text=True,
                       timeout=5)
    return r.stdout + r.stderr


run(test, timeout=120)
