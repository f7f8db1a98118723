"""An active/passive pair with keepalived (issue 14), in network namespaces.

    master (m) --m0/pm--+
    backup (k) --k0/pk--+ bridge (br)
    clients and backend (c) --c0/pc--+

m and k each run tcplb bound to the virtual address (ip_nonlocal_bind, so
the passive one can bind it before it holds it) and Debian's keepalived
(foreground, own pid files) with a track_script running
`tcplb ctl -s SOCK check`.  Stopping tcplb on the master must move the
address to the backup within the bound that keepalived's settings give
(script interval x fall + the backup's master-down interval, 3 x advert_int
+ skew), and clients reconnecting through the address must be served by the
backup.  Then the new master's machine "dies" (link down): the address
comes back within the master-down interval, and the session that was open
there is lost.  Both failover times are measured and printed."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from netns import Lab, tell_backend
import shutil

VIP = "10.78.0.100"
PORT = 8000
BACKEND = ("10.78.0.4", 9000)
NODES = {"m": ("10.78.0.2", 150), "k": ("10.78.0.3", 100)}


TCPLB_CFG = """\
global:
  admin_socket: %(sock)s
  shutdown_timeout: 2s
listeners:
  vip: {bind: "%(vip)s:%(port)d", pool: app}
pools:
  app:
    servers:
      - {address: "%(backend)s", name: app}
"""


def keepalived_conf(t, node, sock, ifname, prio):
    """contrib/keepalived/keepalived.conf, made concrete for one node: the
    example itself is what runs here."""
    with open(os.path.join(t.srcdir, "contrib", "keepalived", "keepalived.conf")) as f:
        text = f.read()
    for old, new in (("router_id tcplb1", "router_id tcplb_" + node),
                     ('"/usr/sbin/tcplb ctl check"', '"%s ctl -s %s check"' % (t.bin, sock)),
                     ("priority 150", "priority %d" % prio),
                     ("192.0.2.10/24", VIP + "/24"),
                     ("eth0", ifname)):
        if old not in text:
            raise TestFailure("contrib/keepalived/keepalived.conf has no %r" % old)
        text = text.replace(old, new)
    return text


def setting(text, block, key):
    """The number after KEY inside `BLOCK {...}` of a keepalived config."""
    m = re.search(r"^%s\b.*?\{(.*?)^\}" % re.escape(block), text, re.M | re.S)
    v = m and re.search(r"^\s*%s\s+(\d+)" % re.escape(key), m.group(1), re.M)
    if not v:
        raise TestFailure("no %s in %s" % (key, block))
    return int(v.group(1))


def has_vip(lab, ns, ifname):
    return (" %s/" % VIP) in lab.ip(ns, "-4", "addr", "show", "dev", ifname)


def test(t):
    if shutil.which("keepalived") is None:
        raise Skip("no keepalived (Debian package keepalived)")
    lab = Lab(t)
    br, c = lab.ns("br"), lab.ns("c")
    lab.ip(br, "link", "add", "sw", "type", "bridge")
    lab.ip(br, "link", "set", "sw", "up")
    ns = {}
    for node in ("m", "k"):
        ns[node] = lab.ns(node)
        lab.veth(ns[node], node + "0", NODES[node][0] + "/24", br, "p" + node)
        lab.ip(br, "link", "set", "p" + node, "master", "sw")
        lab.sysctl(ns[node], "net.ipv4.ip_nonlocal_bind", 1)
    lab.veth(c, "c0", BACKEND[0] + "/24", br, "pc")
    lab.ip(br, "link", "set", "pc", "master", "sw")
    with lab.inside(c):
        t.thread_backend(tell_backend, name="app", host=BACKEND[0], port=BACKEND[1])

    lbs, kas = {}, {}
    workers = os.environ.get("TCPLB_TEST_WORKERS") or "2"

    def start_tcplb(node):
        sock = t.path("tcplb-%s.sock" % node)
        cfg = t.write("tcplb-%s.yaml" % node, TCPLB_CFG % dict(
            sock=sock, vip=VIP, port=PORT, backend="%s:%d" % BACKEND))
        p = t.start(["-c", cfg, "--log-target", "stderr", "-w", workers],
                    name="tcplb-%s%d" % (node, len(t.procs)),
                    argv0=lab.exec_argv(ns[node], [t.bin]))
        p.sock = sock
        lbs[node] = p
        t.check(wait_until(lambda: t.ctl(sock, "check")[0] == 0 or not p.alive(), timeout=10)
                and p.alive(), "tcplb on %s never passed its check" % node)

    for node in ("m", "k"):
        start_tcplb(node)

    def start_keepalived(node):
        text = keepalived_conf(t, node, lbs[node].sock, node + "0", NODES[node][1])
        kcfg = t.write("keepalived-%s.conf" % node, text)
        pid = lambda what: t.path("keepalived-%s%s.pid" % (node, what))
        kas[node] = t.start(["-n", "-l", "-D", "-P", "-f", kcfg, "-p", pid(""),
                             "-r", pid("-vrrp"), "-c", pid("-checkers")],
                            name="keepalived-" + node,
                            argv0=lab.exec_argv(ns[node], ["keepalived"]))
        return text

    def logs(node):
        return kas[node].stdout() + kas[node].stderr()

    # the master first, then the backup, which must settle as backup
    conf = start_keepalived("m")
    t.check(wait_until(lambda: has_vip(lab, ns["m"], "m0"), timeout=15),
            "the master never took the address")
    start_keepalived("k")
    t.check(wait_until(lambda: "Entering BACKUP STATE" in logs("k"), timeout=10),
            "the backup never entered BACKUP state")
    for node in ("m", "k"):
        # what keepalived says about running the check as root (other
        # warnings, such as one about the kernel version, are not ours)
        bad = re.findall(r"^.*(?:SECURITY VIOLATION|[Uu]nsafe|[Ii]nsecure|[Dd]isabling track script|"
                         r"not executable|cannot be run|WARNING.*script).*$", logs(node), re.M)
        t.check(not bad, "keepalived on %s warns: %s" % (node, bad))
    t.check(not has_vip(lab, ns["k"], "k0"), "both hold the address")

    def served_by(timeout=1.0):
        with lab.inside(c):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect((VIP, PORT))
            line = recv_line(s, timeout)
        except OSError:
            return None
        finally:
            s.close()
        return line.split()[1] if line and len(line.split()) == 2 else None

    t.eq(served_by(3), NODES["m"][0], "clients are served by the master")

    # stop tcplb on the master: its check fails, the address moves
    t0 = time.monotonic()
    lbs["m"].signal(signal.SIGTERM)
    # the bound, from the configuration: the master's check must fail
    # (interval x fall), then at worst the backup waits out the master-down
    # interval (3 x advert_int + skew, RFC 3768); keepalived shortcuts it
    # with a priority-0 advertisement when the master goes to FAULT
    advert = setting(conf, "vrrp_instance", "advert_int")
    skew = (256 - NODES["k"][1]) / 256.0 * advert
    bound = (setting(conf, "vrrp_script", "interval") * setting(conf, "vrrp_script", "fall")
             + 3 * advert + skew)
    moved = wait_until(lambda: has_vip(lab, ns["k"], "k0"), timeout=bound + 5, interval=0.02)
    t_moved = time.monotonic() - t0
    t.check(moved, "the address never moved to the backup")
    served = wait_until(lambda: served_by(0.5) == NODES["k"][0], timeout=5, interval=0.02)
    t_served = time.monotonic() - t0
    t.log("failover: address on the backup %.2fs after tcplb stopped on the master, "
          "first client served by the backup after %.2fs (bound from the config: %.2fs)"
          % (t_moved, t_served, bound))
    t.check(served, "clients reconnecting through the address are not served")
    t.check(t_moved <= bound, "failover took %.2fs, more than %.2fs" % (t_moved, bound))
    t.check(not has_vip(lab, ns["m"], "m0"), "the old master still holds the address")
    t.check(re.search(r"Entering FAULT STATE|Script\(tcplb_check\) failed", logs("m")),
            "the master's keepalived did not see the check fail")
    for _ in range(10):
        t.eq(served_by(2), NODES["k"][0], "served by the new master")
    t.eq(lbs["m"].wait(5), 0, "tcplb on the master stopped cleanly")

    # Second failover: the machine holding the address dies (its link goes
    # down: no advertisement, no goodbye).  m, with tcplb back and its
    # check passing, waits as backup (nopreempt) and takes over after the
    # master-down interval, 3 x advert_int + its skew.  The session open on
    # the dead machine is lost: its packets now reach m, which resets it.
    start_tcplb("m")
    t.check(wait_until(lambda: logs("m").count("Entering BACKUP STATE") >= 2, timeout=10),
            "the old master never came back as backup")
    with lab.inside(c):
        held = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.add_closer(held)
    held.settimeout(3)
    held.connect((VIP, PORT))
    t.eq((recv_line(held, 3) or "").split()[1:], [NODES["k"][0]], "held session on k")
    t0 = time.monotonic()
    lab.ip(ns["k"], "link", "set", "k0", "down")
    bound2 = 3 * advert + (256 - NODES["m"][1]) / 256.0 * advert
    moved = wait_until(lambda: has_vip(lab, ns["m"], "m0"), timeout=bound2 + 5, interval=0.02)
    t_moved = time.monotonic() - t0
    t.check(moved, "the address never moved back to m")
    served = wait_until(lambda: served_by(0.5) == NODES["m"][0], timeout=5, interval=0.02)
    t_served = time.monotonic() - t0
    t.log("failover when the master dies: address on the backup %.2fs after the master's "
          "link went down, first client served after %.2fs (bound from the config: %.2fs)"
          % (t_moved, t_served, bound2))
    t.check(served, "clients are not served after the master died")
    # the master-down timer starts at the last advertisement heard, up to
    # advert_int before the link went: the bound holds from the link going
    # down, give or take the scheduling of a loaded machine (0.5 s)
    t.check(t_moved <= bound2 + 0.5, "failover took %.2fs, more than %.2fs" % (t_moved, bound2))
    try:
        held.sendall(b"?")
        data, how = recv_until_eof(held, 3)
    except OSError as e:
        how = "reset" if e.errno == errno.ECONNRESET else repr(e)
    t.eq(how, "reset", "a session open on the machine that died")


run(test, timeout=90)
