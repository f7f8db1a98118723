"""Issue 20 item 3: at the unit's FileDescriptorStoreMax (4096 sockets:
32 workers x 128 binds) both a restart and a binary upgrade work.  Every
passed socket's name goes into one LISTEN_FDNAMES string, which execve()
caps at 128 KiB (MAX_ARG_STRLEN): with names of about 40 bytes the
restart (systemd execs tcplb with the stored sockets) and the upgrade
(tcplb execs itself) failed with E2BIG beyond about 3,200 sockets.  The
restart is played here as systemd does it: the sockets tcplb stored with
FDSTORE=1 are passed back at fd 3... with their names."""
import sys, os, re, random
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from upglib import *

STORE_MAX = 4096        # FileDescriptorStoreMax= in systemd/tcplb.service.in
WORKERS = 32
BINDS = STORE_MAX // WORKERS
ARG_MAX_STRLEN = 32 * 4096


def unit_store_max(t):
    here = os.path.dirname(os.path.abspath(__file__))
    unit = os.path.join(here, "..", "..", "systemd", "tcplb.service.in")
    m = re.search(r"^FileDescriptorStoreMax=(\d+)", open(unit).read(), re.M)
    return int(m.group(1)) if m else STORE_MAX


def test(t):
    t.eq(unit_store_max(t), STORE_MAX, "the test's socket count follows the unit")
    raise_nofile(4 * STORE_MAX + 1000)
    a = t.identify_backend("A")
    # Below the ephemeral range: clients of tests running beside this one
    # take ephemeral ports, and a bind to one of those fails.
    lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    ports = []
    for p in random.sample(range(10000, lo), lo - 10000):
        if len(ports) == BINDS + 2:
            break
        try:
            s = socket.socket()
            s.bind(("127.0.0.1", p))
            s.close()
            ports.append(p)
        except OSError:
            pass
    ports, spare = ports[:BINDS], ports[BINDS:]
    binds = ", ".join('"127.0.0.1:%d"' % p for p in ports)
    cfg = t.write("tcplb.yaml", """\
global:
  shutdown_timeout: 2s
listeners:
  front: {bind: [%s], pool: p}
pools:
  p:
    servers: ["%s"]
""" % (binds, a.hostport))

    # ---- restart at FileDescriptorStoreMax --------------------------------
    # First a file with two other binds (64 sockets in the store), then
    # the 4096: the store is full until the 64 are removed, and the last
    # groups must still get in.
    store = FdStore(t, max=STORE_MAX)
    other = t.write("other.yaml", """\
listeners:
  front: {bind: ["127.0.0.1:%d", "127.0.0.1:%d"], pool: p}
pools:
  p:
    servers: ["%s"]
""" % (spare[0], spare[1], a.hostport))
    lb = t.start(["-w", str(WORKERS), "-c", other, "--log-target", "stderr"],
                 env={"NOTIFY_SOCKET": store.path}, nofile=4 * STORE_MAX)
    t.check(wait_until(lambda: store.count() == 2 * WORKERS and store.ready(), 10),
            "the first file's sockets")
    lb.signal(signal.SIGTERM)
    t.eq(lb.wait(15), 0)
    snap = store.snapshot()
    p = start_with_fds(t, ["-w", str(WORKERS), "-c", cfg, "--log-target", "stderr"],
                       [fd for _, fd in snap], [n for n, _ in snap], nofile=4 * STORE_MAX,
                       env={"NOTIFY_SOCKET": store.path}, name="full")
    t.check(wait_until(lambda: "listening on 127.0.0.1:%d" % ports[-1] in
                       open(p.stderr_path).read() or p.poll() is not None, 20) and
            p.poll() is None, "no start: %s" % open(p.stderr_path).read()[-1500:])
    removed = lambda: sum(1 for m in list(store.msgs) if "FDSTOREREMOVE=1" in m)
    t.check(wait_until(lambda: removed() >= 2 and store.count() == STORE_MAX, 10),
            "after a full store the fd store holds %d sockets, not %d (%d refused)" %
            (store.count(), STORE_MAX, store.refused))
    p.send_signal(signal.SIGTERM)
    p.wait(15)
    snap = store.snapshot()
    names = [n for n, _ in snap]
    joined = ":".join(names)
    t.log("LISTEN_FDNAMES for %d sockets: %d bytes (longest name %d)" %
          (len(names), len(joined), max(len(n) for n in names)))
    t.check(len("LISTEN_FDNAMES=" + joined) < ARG_MAX_STRLEN,
            "LISTEN_FDNAMES of %d bytes exceeds execve()'s limit" % len(joined))
    try:
        p = start_with_fds(t, ["-w", str(WORKERS), "-c", cfg, "--log-target", "stderr"],
                           [fd for _, fd in snap], names, nofile=4 * STORE_MAX)
    except OSError as e:
        t.fail("systemd could not start tcplb with %d stored sockets: %s" % (len(snap), e))
    t.check(wait_until(lambda: "listening on 127.0.0.1:%d" % ports[-1] in
                       open(p.stderr_path).read() or p.poll() is not None, 20),
            "the restarted tcplb did not come up")
    t.check(p.poll() is None, "the restarted tcplb exited: %s" % open(p.stderr_path).read()[-2000:])
    log = open(p.stderr_path).read()
    t.check("systemd passed %d sockets (LISTEN_FDNAMES of %d bytes)" % (len(names), len(joined))
            in log, "the stored sockets were not used")
    t.check("cannot listen" not in log, "a bind failed after the restart")
    for port in (ports[0], ports[-1]):
        t.eq(t.identify(("127.0.0.1", port)), "A", "served after the restart on %d" % port)
    p.send_signal(signal.SIGTERM)
    p.wait(15)
    store.close()

    # ---- binary upgrade at FileDescriptorStoreMax -------------------------
    run = UpgradeRun(t, cfg, workers=WORKERS, nofile=4 * STORE_MAX)
    new = run.upgrade(timeout=30)
    t.eq(t.identify(("127.0.0.1", ports[-1])), "A", "served after the upgrade")
    t.eq(run.lb.wait(15), 0, "the old process drains and exits 0")
    run.stop_main()


run(test)
