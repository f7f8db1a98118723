"""Local port exhaustion (EADDRNOTAVAIL) is tcplb's shortage, not the
server's failure; `source:` is the way past it.

In a private network namespace with net.ipv4.ip_local_port_range narrowed
to 16 ports and tcp_tw_reuse off (as between two hosts), every session
leaves a port toward the server in TIME_WAIT until none is left.  Then:
the server is never marked down (max_fails 1 and an active check with
fall 1 would do it on a single counted failure), the shortage is logged,
rate-limited, and counted (the STATUS= line shows the count).  Reloaded with `source: 127.0.0.2` (pool) the
sessions connect again, from that address; a server's own `source:`
overrides the pool's.

The test re-runs itself under `unshare -rn`; it is skipped (77) only when
no namespace can be made."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *

LB_PORT, SRV_PORT = 20000, 20001       # outside the narrowed range
RANGE = (40000, 40015)

CFG = """\
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    retries: 0
    max_fails: 1
    fail_timeout: 60s
    health_check: {interval: 300ms, timeout: 1s, rise: 1, fall: 1}
%s    servers:
      - address: 127.0.0.1:%d
        name: echo
%s"""


def netns():
    return os.stat("/proc/self/ns/net").st_ino


def in_namespace():
    if "TCPLB_TEST_NETNS" in os.environ:
        # The sysctls below must never touch the host's namespace.
        if str(netns()) == os.environ["TCPLB_TEST_NETNS"]:
            print("FAIL: still in the parent's network namespace")
            sys.exit(1)
        return
    env = dict(os.environ, TCPLB_TEST_NETNS=str(netns()))
    try:
        r = subprocess.run(["unshare", "-rn", "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        print("SKIP: cannot run unshare: %r" % e)
        sys.exit(SKIP)
    if r.returncode != 0:
        print("SKIP: no private network namespace: %s" % r.stderr.decode().strip())
        sys.exit(SKIP)
    os.execvpe("unshare", ["unshare", "-rn", sys.executable, os.path.abspath(__file__)], env)


def setup_netns():
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    with open("/proc/sys/net/ipv4/ip_local_port_range", "w") as f:
        f.write("%d %d" % RANGE)
    with open("/proc/sys/net/ipv4/tcp_tw_reuse", "w") as f:
        f.write("0")


def test(t):
    setup_netns()
    peers = []

    def echo(c, b):
        b.record(c.getpeername()[0])
        while True:
            d = c.recv(65536)
            if not d:
                return
            c.sendall(d)

    b = t.thread_backend(echo, port=SRV_PORT)
    lb = t.start_config(CFG % (LB_PORT, "", SRV_PORT, ""))
    next_port = [30000]

    def session():
        """One short session from a fixed client port (the clients must
        not run out of ports themselves).  True when echoed."""
        next_port[0] += 1
        try:
            s = socket.socket()
            s.settimeout(3)
            s.bind(("127.0.0.1", next_port[0]))
            s.connect(("127.0.0.1", LB_PORT))
        except ConnectionResetError:
            # refused (no local port toward the server): a reset, which
            # may come before connect() returns
            s.close()
            return False
        except OSError as e:
            raise TestFailure("client cannot connect to tcplb: %r" % e)
        try:
            s.sendall(b"ping")
            return recv_exact(s, 4, 3) == b"ping"
        except (TestFailure, OSError):
            return False
        finally:
            s.close()

    results = [session() for _ in range(40)]
    ok, failed = results.count(True), results.count(False)
    t.log("ports %d-%d, no source: %d sessions served, %d not" % (RANGE + (ok, failed)))
    t.check(ok >= 4, "too few sessions before exhaustion: %s" % results)
    t.check(failed >= 10, "ports never ran out: %s" % results)
    t.check(all(results[:4]), "early sessions failed: %s" % results)
    time.sleep(1.0)          # a few health checks meet the shortage too
    err = lb.stderr()
    t.check(not re.search(r"is DOWN", err), "server marked down:\n" + err[-3000:])
    recs = re.findall(r"no local address to connect to p/echo \(127\.0\.0\.1:%d\).*"
                      r"\((\d+) such connects in all\)" % SRV_PORT, err)
    t.check(recs, "shortage not logged:\n" + err[-3000:])
    t.log("session records: %d, counts %s" % (len(recs), recs))
    t.check(len(recs) <= 2, "not rate-limited: %d records for %d failures" % (len(recs), failed))
    t.check(int(recs[0]) >= 1, "count missing")
    # counted: every failed session is one connect without a local port,
    # shown on the STATUS= line (refreshed every 2 s)
    def status_count():
        for m in reversed(t.notify.messages()):
            c = re.search(r"(\d+) connects found no free local port", m)
            if c:
                return int(c.group(1))
        return None
    t.check(wait_until(lambda: status_count() == failed, 5),
            "STATUS= count %s, want %d" % (status_count(), failed))
    t.log("STATUS= line: %d connects found no free local port" % status_count())
    checks = re.findall(r"cannot check server p/echo.*not held against", err)
    t.log("health check records: %d" % len(checks))
    t.check(len(checks) <= 2, "health records not rate-limited: %d" % len(checks))

    # a pool-level source: its own ports, sessions connect again
    del b.results[:]
    t.reload(lb, CFG % (LB_PORT, "    source: 127.0.0.2\n", SRV_PORT, ""))
    results = [session() for _ in range(8)]
    t.log("source 127.0.0.2: %s" % results)
    t.check(all(results), "sessions with source 127.0.0.2 failed: %s" % results)
    t.check(set(b.results) <= {"127.0.0.2"} and "127.0.0.2" in b.results,
            "server saw peers %s" % set(b.results))

    # a server's own source overrides the pool's
    del b.results[:]
    t.reload(lb, CFG % (LB_PORT, "    source: 127.0.0.2\n", SRV_PORT,
                        "        source: 127.0.0.3\n"))
    results = [session() for _ in range(4)]
    t.check(all(results), "sessions with source 127.0.0.3 failed: %s" % results)
    t.check(set(b.results) <= {"127.0.0.3"} and "127.0.0.3" in b.results,
            "server saw peers %s" % set(b.results))
    t.check(not re.search(r"is DOWN", lb.stderr()), "server marked down")
    t.check(lb.alive(), "tcplb died")


in_namespace()
run(test, timeout=60)
