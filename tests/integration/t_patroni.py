"""THE Patroni scenario: etcd, two PostgreSQL 15 instances and two Patroni
daemons (Debian packages), tcplb in front with a write listener (http check
of /primary on each node's REST port via check_port, on_down:
shutdown_sessions) and a read listener (/replica).  `patronictl switchover`
must then show:
- new writes through tcplb reach the new primary within interval x rise
  (+ the check timeout) after Patroni's own switch;
- every session held on the old primary ends (none left writing to what
  became a replica);
- no client is refused for longer than the switchover itself.
Then the new primary freezes (SIGSTOP on its Patroni and PostgreSQL):
no PostgreSQL closes anything, and tcplb's on_down must reset the
sessions held on it within fall x interval + timeout.
The timeline is printed.  Skips (77) only when the packages are absent."""
import sys, os, shutil, socket, struct, subprocess, tempfile, signal, pwd, threading
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *

PG_BIN = "/usr/lib/postgresql/15/bin"
INTERVAL, RISE, FALL, TIMEOUT = 0.5, 2, 1, 0.4


# ---- a minimal PostgreSQL client (simple query protocol, trust auth) ----

class PgError(Exception):
    pass


class Pg:
    def __init__(self, addr, timeout=3.0):
        self.s = socket.create_connection(addr, timeout=timeout)
        params = b"user\0postgres\0database\0postgres\0application_name\0tcplbtest\0\0"
        self.s.sendall(struct.pack("!ii", 8 + len(params), 196608) + params)
        self.port = None
        self._until_ready()

    def _msg(self):
        h = self._read(5)
        t, n = h[:1], struct.unpack("!i", h[1:])[0]
        return t, self._read(n - 4)

    def _read(self, n):
        b = b""
        while len(b) < n:
            d = self.s.recv(n - len(b))
            if not d:
                raise ConnectionError("server closed the connection")
            b += d
        return b

    def _until_ready(self):
        rows, err = [], None
        while True:
            t, body = self._msg()
            if t == b"R" and struct.unpack("!i", body[:4])[0] != 0:
                raise PgError("authentication required")
            if t == b"E":
                fields = dict((f[:1], f[1:]) for f in body.split(b"\0") if f)
                err = fields.get(b"M", b"?").decode()
                if fields.get(b"S") == b"FATAL":
                    raise PgError(err)
            if t == b"D":
                ncol = struct.unpack("!h", body[:2])[0]
                off, row = 2, []
                for _ in range(ncol):
                    ln = struct.unpack("!i", body[off:off + 4])[0]
                    off += 4
                    row.append(None if ln < 0 else body[off:off + ln].decode())
                    off += max(ln, 0)
                rows.append(row)
            if t == b"Z":
                if err:
                    raise PgError(err)
                return rows

    def query(self, sql):
        q = sql.encode() + b"\0"
        self.s.sendall(b"Q" + struct.pack("!i", 4 + len(q)) + q)
        return self._until_ready()

    def close(self):
        try:
            self.s.sendall(b"X\0\0\0\4")
        except OSError:
            pass
        self.s.close()


def fixed_port(used=set()):
    """A free port below the ephemeral range: the cluster's own outgoing
    connections (Patroni to etcd, replication) cannot take it between
    choosing it and a daemon binding it."""
    import random
    while True:
        p = random.randint(20000, 30000)
        if p in used:
            continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
        except OSError:
            continue
        finally:
            s.close()
        used.add(p)
        return p


def rest(port, path, timeout=0.5):
    try:
        return http_get(("127.0.0.1", port), path, timeout=timeout)[0]
    except Exception:
        return None


# ---- the cluster ----------------------------------------------------------

PATRONI = """\
scope: tcplbtest
name: %(name)s
log: {level: WARNING, dir: %(dir)s/log-%(name)s}
restapi:
  listen: 127.0.0.1:%(rest)d
  connect_address: 127.0.0.1:%(rest)d
etcd:
  host: 127.0.0.1:%(etcd)d
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 1
    retry_timeout: 5
    postgresql:
      use_pg_rewind: true
      parameters: {wal_log_hints: "on"}
  initdb: [{encoding: UTF8}, {auth: trust}]
postgresql:
  listen: 127.0.0.1:%(pg)d
  connect_address: 127.0.0.1:%(pg)d
  data_dir: %(dir)s/data-%(name)s
  bin_dir: %(bin)s
  pgpass: %(dir)s/pgpass-%(name)s
  pg_hba:
    - local all all trust
    - host all all 127.0.0.1/32 trust
    - host replication all 127.0.0.1/32 trust
  authentication:
    superuser: {username: postgres}
    replication: {username: postgres}
  parameters:
    unix_socket_directories: %(dir)s/sock-%(name)s
"""


class Daemon:
    def __init__(self, argv, log, user=None, env=None):
        self.log = open(log, "ab")
        pre = None
        if user is not None:
            def pre():
                os.setgid(user.pw_gid)
                os.initgroups(user.pw_name, user.pw_gid)
                os.setuid(user.pw_uid)
        e = dict(os.environ)
        if user is not None:
            e.update(HOME=user.pw_dir, USER=user.pw_name, LOGNAME=user.pw_name)
        e.update(env or {})
        self.p = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, preexec_fn=pre, env=e,
                                  start_new_session=True)

    def close(self, grace=20):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGKILL)
            self.p.wait()
        self.log.close()


def test(t):
    for b in ("patroni", "patronictl", "etcd"):
        if shutil.which(b) is None:
            raise Skip("%s not installed (Debian: patroni, etcd-server; see .ci/setup)" % b)
    if not os.path.exists(os.path.join(PG_BIN, "postgres")):
        raise Skip("PostgreSQL 15 not installed (Debian: postgresql-15)")
    user = None
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            raise Skip("running as root and no postgres user to run PostgreSQL as")
    d = tempfile.mkdtemp(prefix="tcplb-patroni-")
    os.chmod(d, 0o755)
    if user:
        os.chown(d, user.pw_uid, user.pw_gid)
    t.log("cluster directory", d)
    etcd_c, etcd_p = fixed_port(), fixed_port()
    nodes = {}
    for n in ("n1", "n2"):
        nodes[n] = dict(name=n, rest=fixed_port(), pg=fixed_port(), etcd=etcd_c, dir=d, bin=PG_BIN)
        os.makedirs(os.path.join(d, "log-" + n))
        os.makedirs(os.path.join(d, "sock-" + n))
        if user:
            for sub in ("log-" + n, "sock-" + n):
                os.chown(os.path.join(d, sub), user.pw_uid, user.pw_gid)
    daemons = []

    def stop_all():
        for dm in reversed(daemons):
            try:
                dm.close()
            except Exception:
                pass
        # Belt and braces: a PostgreSQL a killed Patroni left behind.
        for n in nodes:
            dd = os.path.join(d, "data-" + n)
            if os.path.exists(os.path.join(dd, "postmaster.pid")):
                subprocess.run((["runuser", "-u", "postgres", "--"] if user else []) +
                               [os.path.join(PG_BIN, "pg_ctl"), "-D", dd, "stop", "-m", "immediate"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=20)
        shutil.rmtree(d, ignore_errors=True)

    class Closer:
        def close(self):
            stop_all()
    t.add_closer(Closer())
    t.abort_hooks.append(stop_all)

    T = time.monotonic
    t_start = T()
    daemons.append(Daemon(["etcd", "--name", "e1", "--data-dir", os.path.join(d, "etcd"),
                           "--listen-client-urls", "http://127.0.0.1:%d" % etcd_c,
                           "--advertise-client-urls", "http://127.0.0.1:%d" % etcd_c,
                           "--listen-peer-urls", "http://127.0.0.1:%d" % etcd_p,
                           "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % etcd_p,
                           "--initial-cluster", "e1=http://127.0.0.1:%d" % etcd_p,
                           "--enable-v2=true"], t.path("etcd.log")))
    t.check(wait_until(lambda: rest(etcd_c, "/version") == 200, timeout=20), "etcd did not start")
    cfgs = {}
    for n, v in nodes.items():
        cfgs[n] = os.path.join(d, n + ".yml")
        with open(cfgs[n], "w") as f:
            f.write(PATRONI % v)
        if user:
            os.chown(cfgs[n], user.pw_uid, user.pw_gid)
    daemons.append(Daemon(["patroni", cfgs["n1"]], t.path("patroni-n1.log"), user))
    t.check(wait_until(lambda: rest(nodes["n1"]["rest"], "/primary") == 200, timeout=40),
            "n1 did not become the primary")
    daemons.append(Daemon(["patroni", cfgs["n2"]], t.path("patroni-n2.log"), user))
    t.check(wait_until(lambda: rest(nodes["n2"]["rest"], "/replica") == 200, timeout=40),
            "n2 did not become a streaming replica")
    t.log("cluster formed in %.1fs" % (T() - t_start))

    wport, rport = free_port(), free_port()
    sock = t.path("admin.sock")
    hc = "{type: http, path: %%s, interval: %dms, timeout: %dms, rise: %d, fall: %d}" % (
        INTERVAL * 1000, TIMEOUT * 1000, RISE, FALL)
    srv = "".join('      - {address: "127.0.0.1:%d", name: %s, check_port: %d}\n'
                  % (v["pg"], n, v["rest"]) for n, v in nodes.items())
    lb = t.start_config("""\
global:
  admin_socket: %s
listeners:
  write: {bind: "127.0.0.1:%d", pool: primary}
  read: {bind: "127.0.0.1:%d", pool: replicas}
pools:
  primary:
    on_down: shutdown_sessions
    health_check: %s
    servers:
%s  replicas:
    health_check: %s
    servers:
%s""" % (sock, wport, rport, hc % "/primary", srv, hc % "/replica", srv))
    W, R = ("127.0.0.1", wport), ("127.0.0.1", rport)
    port_of = {v["pg"]: n for n, v in nodes.items()}

    def health():
        return {(s["pool"], s["server"]): s["health"] for s in admin_json(sock, "show servers")["servers"]}
    t.check(wait_until(lambda: health() == {("primary", "n1"): "up", ("primary", "n2"): "down",
                                            ("replicas", "n1"): "down", ("replicas", "n2"): "up"},
                       timeout=10), "tcplb's view of the cluster: %r" % health())
    c = Pg(W)
    c.query("CREATE TABLE IF NOT EXISTS w (t timestamptz default now(), via int)")
    t.eq(port_of[int(c.query("SELECT inet_server_port()")[0][0])], "n1", "write listener leads to")
    c.close()
    c = Pg(R)
    t.eq(c.query("SELECT pg_is_in_recovery()")[0][0], "t", "read listener leads to a replica")
    c.close()

    # Sessions held on the primary through tcplb.
    held = [Pg(W) for _ in range(5)]
    for h in held:
        h.query("INSERT INTO w (via) VALUES (0)")

    # Writers: a new connection and an INSERT every 100 ms.
    log = []            # (time, ok, node or error)
    stop = threading.Event()

    def writer():
        while not stop.is_set():
            t1 = T()
            try:
                p = Pg(W, timeout=1.0)
                try:
                    # A write only a primary takes, on a table of its own
                    # (a temporary one): whether the new primary has
                    # replayed w yet is Patroni's business, not tcplb's.
                    r = p.query("CREATE TEMP TABLE tw (via int); "
                                "INSERT INTO tw (via) VALUES (inet_server_port()); "
                                "SELECT inet_server_port()")
                    log.append((t1, True, port_of.get(int(r[0][0]))))
                finally:
                    p.close()
            except Exception as e:
                log.append((t1, False, "%s: %s" % (type(e).__name__, e)))
            time.sleep(max(0, 0.1 - (T() - t1)))
    wt = threading.Thread(target=writer, daemon=True)
    wt.start()
    time.sleep(1.0)

    # REST watcher: when Patroni itself says the roles changed.
    marks = {}

    def watch():
        while not stop.is_set() and len(marks) < 2:
            if "old_503" not in marks and rest(nodes["n1"]["rest"], "/primary", 0.3) != 200:
                marks["old_503"] = T()
            if "new_200" not in marks and rest(nodes["n2"]["rest"], "/primary", 0.3) == 200:
                marks["new_200"] = T()
            time.sleep(0.02)
    rw = threading.Thread(target=watch, daemon=True)
    rw.start()

    # Held sessions: watch when each one ends.
    ends = {}

    def hold(i, h):
        h.s.settimeout(60)
        try:
            d = h.s.recv(65536)
            while d:      # PostgreSQL's FATAL message, then the end
                d = h.s.recv(65536)
            ends[i] = (T(), "closed")
        except ConnectionResetError:
            ends[i] = (T(), "reset")
        except OSError as e:
            ends[i] = (T(), str(e))
    for i, h in enumerate(held):
        threading.Thread(target=hold, args=(i, h), daemon=True).start()

    t0 = T()
    r = subprocess.run(["patronictl", "-c", cfgs["n1"], "switchover", "tcplbtest",
                        "--leader", "n1", "--candidate", "n2", "--force"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    t_cmd = T()
    t.log("patronictl:", r.stdout.decode(errors="replace").strip().splitlines()[-1:])
    t.eq(r.returncode, 0, "patronictl switchover")
    t.check(wait_until(lambda: "new_200" in marks, timeout=30), "n2 never answered /primary 200")

    def first_new():
        return next((x for x in log if x[1] and x[2] == "n2" and x[0] >= t0), None)
    if not wait_until(lambda: first_new() is not None, timeout=15):
        for x in log[-10:]:
            t.log("write at %.2f: %r" % (x[0] - t0, x[1:]))
        t.fail("no write reached n2 through tcplb")
    fw = first_new()
    time.sleep(0.5)
    stop.set()
    wt.join(5)
    t.check(wait_until(lambda: len(ends) == len(held), timeout=10),
            "held sessions still open: %d of %d" % (len(held) - len(ends), len(held)))
    # None of them can write any more.
    for h in held:
        try:
            h.query("INSERT INTO w (via) VALUES (-1)")
            t.fail("a session held on the old primary still writes")
        except (OSError, ConnectionError, PgError):
            pass

    # The timeline.
    after = [x for x in log if x[0] >= t0]
    fails = [x for x in after if not x[1]]
    worst, run_start = 0.0, None
    for x in after:
        if not x[1] and run_start is None:
            run_start = x[0]
        if x[1] and run_start is not None:
            worst = max(worst, x[0] - run_start)
            run_start = None
    last_old = max((x[0] for x in after if x[1] and x[2] == "n1"), default=None)
    patroni_switch = marks["new_200"] - t0
    lb_lag = fw[0] - marks["new_200"]
    bound = INTERVAL * RISE + TIMEOUT
    t.log("---- switchover timeline (s after `patronictl switchover`) ----")
    t.log("  %6.2f  n1 /primary no longer 200" % (marks.get("old_503", float("nan")) - t0))
    for i in sorted(ends):
        t.log("  %6.2f  held session %d on n1 ended (%s)" % (ends[i][0] - t0, i, ends[i][1]))
    if last_old is not None:
        t.log("  %6.2f  last write through tcplb that landed on n1" % (last_old - t0))
    t.log("  %6.2f  n2 /primary 200 (Patroni's switch time)" % patroni_switch)
    t.log("  %6.2f  patronictl returned" % (t_cmd - t0))
    t.log("  %6.2f  first new write through tcplb on n2 (%.2fs after Patroni; bound interval x rise + timeout = %.2fs)"
          % (fw[0] - t0, lb_lag, bound))
    t.log("  writes attempted after the command: %d, failed: %d, longest refusal: %.2fs" % (len(after), len(fails), worst))
    for x in fails[:5]:
        t.log("     failed at %.2f: %s" % (x[0] - t0, x[2]))
    t.check(lb_lag <= bound + 0.6, "tcplb took %.2fs after Patroni's switch (bound %.2fs)" % (lb_lag, bound))
    t.check(worst <= (fw[0] - t0) + 0.3,
            "a client was refused for %.2fs, longer than the switchover (%.2fs)" % (worst, fw[0] - t0))
    t.check(all(e[0] <= fw[0] + 0.5 for e in ends.values()), "a held session outlived the switch")
    # New clients stop reaching n1 within tcplb's detection bound after
    # Patroni's REST API says it is no longer the primary (Patroni answers
    # 503 before it stops PostgreSQL, which still takes writes until
    # then; a replica would refuse them, and the writer counts that as a
    # failure, never as a write on n1).
    if last_old is not None and "old_503" in marks:
        lag = last_old - marks["old_503"]
        t.log("last write on n1 %.2fs after its /primary turned 503 (bound fall x interval + timeout = %.2fs)"
              % (lag, FALL * INTERVAL + TIMEOUT))
        t.check(lag <= FALL * INTERVAL + TIMEOUT + 0.3,
                "clients still reached n1 %.2fs after Patroni demoted it" % lag)
    t.check(lb.wait_stderr(r"server primary/n1 .*is DOWN", timeout=1), "tcplb did not log n1 down")
    t.check(lb.wait_stderr(r"on_down: server primary/n1 marked down: reset \d+ session", timeout=3),
            "no on_down record for primary/n1")
    # The read listener follows too: n1 is the replica now.
    t.check(wait_until(lambda: health().get(("replicas", "n1")) == "up", timeout=20),
            "n1 never came back as a replica in the read pool")

    # Phase 2: the new primary hangs (its Patroni and PostgreSQL stopped
    # with SIGSTOP, as a frozen VM or a partition looks from here).  No
    # PostgreSQL closes anything now: the sessions held on it end only
    # because tcplb's check times out and on_down resets them.
    hung = [Pg(W) for _ in range(4)]
    for h in hung:
        t.eq(port_of[int(h.query("SELECT inet_server_port()")[0][0])], "n2", "held on")
    pids = frozen_pids(daemons[2].p.pid, os.path.join(d, "data-n2"))
    t.log("freezing n2: %d processes" % len(pids))
    t1 = T()
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        seen = []
        for h in hung:
            h.s.settimeout(8)
            try:
                h.s.sendall(b"Q\0\0\0\x0dSELECT 1\0")
                d2 = h.s.recv(100)
                seen.append("eof" if not d2 else "data")
            except ConnectionResetError:
                seen.append("reset")
            except socket.timeout:
                seen.append("hung")
        dt = T() - t1
    finally:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGCONT)
            except OSError:
                pass
    t.log("sessions held on the frozen primary: %s, %.2fs after the freeze "
          "(bound fall x interval + timeout = %.2fs)" % (seen, dt, FALL * INTERVAL + TIMEOUT))
    t.eq(seen, ["reset"] * len(hung), "sessions on the frozen primary")
    t.check(dt <= FALL * INTERVAL + TIMEOUT + 1.0, "reset took %.2fs" % dt)
    t.check(lb.wait_stderr(r"on_down: server primary/n2 marked down: reset [1-9]\d* session", timeout=3),
            "no on_down record resetting primary/n2's sessions")
    t.log("total test time %.1fs" % (T() - t_start))


def frozen_pids(patroni_pid, datadir):
    """Patroni's process group and the PostgreSQL of datadir with every
    child (the backends holding our sessions)."""
    pids = set()
    pg = os.getpgid(patroni_pid)
    with open(os.path.join(datadir, "postmaster.pid")) as f:
        post = int(f.readline())
    for e in os.listdir("/proc"):
        if not e.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % e) as f:
                st = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid, pgrp = int(e), int(st[1]), int(st[2])
        if pgrp == pg or pid == post or ppid == post:
            pids.add(pid)
    return sorted(pids)


if __name__ == "__main__":
    run(test, timeout=170)
