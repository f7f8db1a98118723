"""Chaos soak: about 60 s (TCPLB_SOAK_SECONDS for longer) of clients
streaming sha256-checked data of mixed sizes through tcplb to three echo
backends -- some clients half-close, some reset mid-stream -- while the
backends are killed (SIGKILL) and restarted one at a time and the
configuration is reloaded several times a second.

Asserted:
  - every session whose backend was not killed during its life got back
    exactly the bytes it sent (length and sha256), and a half-closing
    client got its EOF after them;
  - no new connection fails while a backend is up: every connection
    during which no backend was being killed reached a backend (got its
    greeting), even while one was down (tcplb must try another);
  - afterwards tcplb's sockets return to their baseline, its pipes stay
    within the pipe pools' bound (64 per worker, 2 fds each), both
    sampled during the run and at the end;
  - RSS after the run is within RSS_GROWTH_KIB (16 MiB) of RSS after the
    warm-up (a quarter of the run), so memory does not grow with traffic
    (the sanitizer's quarantine is held to 8 MiB for this);
  - tcplb never exits; the sanitizer build reports nothing (lib.run).
Bounded: every loop ends at the deadline or after MAX_SESSIONS.

Addresses: tcplb and the backends listen on 127.0.0.2, clients connect
from 127.0.0.3 and tcplb from 127.0.0.4 (`source:`), all with
IP_BIND_ADDRESS_NO_PORT: the soak's many short connections then never
hold a port on 127.0.0.1, where the tests running beside it pick theirs.
Passive health is off (max_fails 0): a killed backend is marked down by
the active check, and a refused connect goes to another server."""
import sys, os, random
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *

DURATION = float(os.environ.get("TCPLB_SOAK_SECONDS", "60"))
CLIENTS = 8
MAX_SESSIONS = 200000
NBACKENDS = 3
HOST, CLIENT_SRC, LB_SRC = "127.0.0.2", "127.0.0.3", "127.0.0.4"
IP_BIND_ADDRESS_NO_PORT = 24
SIZES = [0, 1, 100, 4096, 65536, 300000, 1 << 20, 3 << 20]
KINDS = ["full"] * 5 + ["halfclose"] * 4 + ["reset"]
WORKERS = int(os.environ.get("TCPLB_TEST_WORKERS") or "2")
PIPE_POOL = 64                  # PIPEPOOL_KEEP in src/worker.c
RSS_GROWTH_KIB = 16 * 1024

BACKEND = r'''
import selectors, socket, sys
port, idx, epoch = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.2", port))
ls.listen(1024)
ls.setblocking(False)
sel = selectors.DefaultSelector()
sel.register(ls, selectors.EVENT_READ, None)
print("ready", flush=True)

def close(c):
    sel.unregister(c)
    c.close()

while True:
    for key, ev in sel.select():
        if key.data is None:
            while True:
                try:
                    c, _ = ls.accept()
                except BlockingIOError:
                    break
                c.setblocking(False)
                st = {"out": bytearray(b"B%d:%d\n" % (idx, epoch)), "eof": False}
                sel.register(c, selectors.EVENT_READ | selectors.EVENT_WRITE, st)
            continue
        c, st = key.fileobj, key.data
        try:
            if ev & selectors.EVENT_READ and not st["eof"]:
                d = c.recv(1 << 18)
                if d:
                    st["out"] += d
                else:
                    st["eof"] = True
            if st["out"]:
                n = c.send(st["out"])
                del st["out"][:n]
        except BlockingIOError:
            pass
        except OSError:
            close(c)
            continue
        if st["eof"] and not st["out"]:
            close(c)
            continue
        mask = 0
        if not st["eof"] and len(st["out"]) < (4 << 20):
            mask |= selectors.EVENT_READ
        if st["out"]:
            mask |= selectors.EVENT_WRITE
        sel.modify(c, mask or selectors.EVENT_WRITE, st)
'''

CFG = """\
global:
  workers: 2
  access_log: false
  shutdown_timeout: 5s
defaults:
  connect_timeout: 2s
  idle_timeout: %s
  retries: 2
  max_fails: 0
listeners:
  front: {bind: "127.0.0.2:%d", pool: p}
pools:
  p:
    balance: %s
    source: 127.0.0.4
    health_check: {interval: 300ms, timeout: 1s, rise: 1, fall: 1}
    servers:
%s"""


class Backends:
    def __init__(self, t):
        self.t = t
        self.ports = [free_port(HOST) for _ in range(NBACKENDS)]
        self.epoch = [0] * NBACKENDS
        self.procs = [None] * NBACKENDS
        self.lock = threading.Lock()
        self.kills = []          # [backend, kill sent, process gone]
        for i in range(NBACKENDS):
            self.start(i)

    def start(self, i):
        p = subprocess.Popen([sys.executable, "-c", BACKEND, str(self.ports[i]), str(i),
                              str(self.epoch[i])], stdout=subprocess.PIPE,
                             stdin=subprocess.DEVNULL)
        line = p.stdout.readline()
        if line.strip() != b"ready":
            p.kill()
            raise TestFailure("backend %d did not start: %r" % (i, line))
        self.procs[i] = p

    def kill(self, i):
        self.procs[i].kill()
        self.procs[i].wait(5)
        self.procs[i].stdout.close()

    def restart(self, i):
        with self.lock:
            self.epoch[i] += 1
        self.start(i)

    def close(self):
        for p in self.procs:
            if p and p.poll() is None:
                p.kill()
                p.wait(5)
            if p:
                p.stdout.close()

    def killed_during(self, a, b, backend=None):
        """Was a backend (any, or this one) killed at some time in [a, b]?
        (Being down is no excuse: tcplb must go to another server.)"""
        with self.lock:
            for i, k0, k1 in self.kills:
                if backend is not None and i != backend:
                    continue
                if k0 <= b and (k1 is None or k1 >= a):
                    return True
        return False


def fd_kinds(lb):
    socks = pipes = 0
    for v in lb.fds().values():
        if v.startswith("socket:"):
            socks += 1
        elif v.startswith("pipe:"):
            pipes += 1
    return socks, pipes


def session(addr, block, kind, size, rnd):
    """One client session; returns a record."""
    r = {"kind": kind, "size": size, "t0": time.monotonic(), "backend": None,
         "ok": False, "why": ""}
    try:
        s = socket.socket()
        s.settimeout(5)
        s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        s.bind((CLIENT_SRC, 0))
        s.connect(addr)
    except OSError as e:
        s.close()
        r["why"] = "connect: %r" % e
        r["t1"] = time.monotonic()
        return r
    try:
        hdr = recv_line(s, 5)
        if hdr is None or not re.fullmatch(r"B\d+:\d+", hdr):
            r["why"] = "no greeting (%r)" % hdr
            return r
        b, e = hdr[1:].split(":")
        r["backend"], r["epoch"] = int(b), int(e)
        off = rnd.randrange(0, len(block) - size + 1)
        view = memoryview(block)[off:off + size]
        want = hashlib.sha256(view).hexdigest()
        cut = rnd.randrange(0, size + 1) if kind == "reset" else None
        s.setblocking(False)
        sel = selectors.DefaultSelector()
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
        sent = got = 0
        shut = eof = False
        h = hashlib.sha256()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if kind == "reset" and sent >= cut:
                rst_close(s)
                s = None
                r["ok"] = True
                return r
            if kind == "full" and got >= size:
                break
            if eof:
                break
            if kind == "halfclose" and sent == size and not shut:
                s.shutdown(socket.SHUT_WR)
                shut = True
            mask = selectors.EVENT_READ | (selectors.EVENT_WRITE if sent < size else 0)
            sel.modify(s, mask)
            for _, ev in sel.select(1.0):
                if ev & selectors.EVENT_WRITE and sent < size:
                    end = size if cut is None else cut
                    try:
                        sent += s.send(view[sent:min(end, sent + 262144)] if end > sent
                                       else view[sent:sent + 1])
                    except BlockingIOError:
                        pass
                if ev & selectors.EVENT_READ:
                    try:
                        d = s.recv(1 << 18)
                    except BlockingIOError:
                        continue
                    if not d:
                        eof = True
                    else:
                        h.update(d)
                        got += len(d)
        sel.close()
        if got != size or h.hexdigest() != want:
            r["why"] = "%s: got %d of %d bytes%s" % (kind, got, size,
                       "" if got != size else " (sha256 differs)")
            return r
        if kind == "halfclose" and not eof:
            r["why"] = "halfclose: no EOF after the echo"
            return r
        r["ok"] = True
        return r
    except OSError as e:
        r["why"] = "%s: %r" % (kind, e)
        return r
    finally:
        r["t1"] = time.monotonic()
        if s is not None:
            s.close()


def test(t):
    rnd0 = random.Random(int(os.environ.get("TCPLB_SOAK_SEED", "0")) or None)
    seed = rnd0.randrange(1 << 30)
    t.log("duration %.0fs, %d clients, seed %d, %d workers" % (DURATION, CLIENTS, seed, WORKERS))
    be = Backends(t)
    t.add_closer(be)
    port = free_port(HOST)
    addr = (HOST, port)

    def config(k):
        algs = ["roundrobin", "leastconn", "random"]
        servers = "".join("      - {address: '127.0.0.2:%d', name: b%d, weight: %d}\n"
                          % (be.ports[i], i, 1 + (k + i) % 3) for i in range(NBACKENDS))
        return CFG % ("%ds" % (30 + k % 2 * 30), port, algs[k % 3], servers)

    # Under AddressSanitizer freed memory waits in a quarantine (256 MiB by
    # default) that would read as growth: keep it small for this test
    # (the option means nothing to a normal build).
    asan = ":".join(o for o in (os.environ.get("ASAN_OPTIONS"), "quarantine_size_mb=8") if o)
    lb = t.start_config(config(0), env={"ASAN_OPTIONS": asan})
    time.sleep(0.5)
    samples = [fd_kinds(lb) for _ in range(10) if time.sleep(0.05) is None]
    base_socks = min(s for s, _ in samples)
    base_pipes = min(p for _, p in samples)
    rss0 = lb.rss_kb()
    t.log("baseline: %d sockets, %d pipe fds, RSS %d KiB" % (base_socks, base_pipes, rss0))

    block = os.urandom(max(SIZES) + 65536)
    start = time.monotonic()
    deadline = start + DURATION
    stop = threading.Event()
    records = []
    rec_lock = threading.Lock()
    stats = {"reloads": 0, "reload_errors": [], "kills": 0, "max_pipes": 0,
             "max_socks": 0, "rss_warm": None}

    def client(n):
        rnd = random.Random(seed + n)
        while time.monotonic() < deadline and not stop.is_set():
            with rec_lock:
                if len(records) >= MAX_SESSIONS:
                    return
            r = session(addr, block, rnd.choice(KINDS), rnd.choice(SIZES), rnd)
            with rec_lock:
                records.append(r)

    def killer():
        rnd = random.Random(seed - 1)
        i = 0
        while not stop.wait(rnd.uniform(1.5, 3.0)) and time.monotonic() < deadline - 2:
            with be.lock:
                be.kills.append([i, time.monotonic(), None])
            be.kill(i)
            with be.lock:
                be.kills[-1][2] = time.monotonic()
            stats["kills"] += 1
            stop.wait(rnd.uniform(0.3, 0.8))
            be.restart(i)
            i = (i + 1) % NBACKENDS

    def reloader():
        k = 1
        while not stop.wait(0.2) and time.monotonic() < deadline:
            try:
                t.reload(lb, config(k))
                stats["reloads"] += 1
            except Exception as e:
                stats["reload_errors"].append(repr(e))
            k += 1

    def monitor():
        while not stop.wait(0.25) and time.monotonic() < deadline:
            try:
                socks, pipes = fd_kinds(lb)
            except OSError:
                return
            stats["max_pipes"] = max(stats["max_pipes"], pipes)
            stats["max_socks"] = max(stats["max_socks"], socks)
            if stats["rss_warm"] is None and time.monotonic() >= start + DURATION / 4:
                stats["rss_warm"] = lb.rss_kb()

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(CLIENTS)]
    threads += [threading.Thread(target=f, daemon=True) for f in (killer, reloader, monitor)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(max(1.0, deadline - time.monotonic() + 45))
    stop.set()
    t.check(not any(th.is_alive() for th in threads), "soak threads did not finish")
    t.check(lb.alive(), "tcplb exited during the soak")

    # -- bytes and failures
    survived = [r for r in records if r["backend"] is not None and
                not be.killed_during(r["t0"], r["t1"], r["backend"])]
    bad = [r for r in survived if not r["ok"]]
    unserved = [r for r in records if r["backend"] is None]
    unexcused = [r for r in unserved if not be.killed_during(r["t0"], r["t1"])]
    checked = [r for r in survived if r["ok"] and r["kind"] != "reset"]
    nbytes = sum(r["size"] for r in checked)
    by_kind = {k: sum(1 for r in records if r["kind"] == k) for k in set(KINDS)}
    t.log("sessions: %d (%s); %d reached a backend that lived through them, "
          "%d of those verified (%d MiB echoed, sha256 checked), %d resets by the client"
          % (len(records), by_kind, len(survived), len(checked), (2 * nbytes) >> 20,
             sum(1 for r in survived if r["kind"] == "reset")))
    t.log("disturbed by a kill: %d sessions; never served: %d (%d with no kill to excuse it)"
          % (len(records) - len(survived) - len(unserved), len(unserved), len(unexcused)))
    t.log("backends killed %d times, %d reloads (%d failed)"
          % (stats["kills"], stats["reloads"], len(stats["reload_errors"])))
    for r in (bad + unexcused)[:10]:
        t.log("  FAILED: %s size %d backend %s at +%.2fs-%.2fs: %s"
              % (r["kind"], r["size"], r["backend"], r["t0"] - start, r["t1"] - start, r["why"]))
    t.check(len(records) >= 50, "too few sessions ran: %d" % len(records))
    t.check(stats["kills"] >= 1 or DURATION < 10, "no backend was killed")
    t.check(stats["reloads"] >= DURATION, "only %d reloads" % stats["reloads"])
    t.eq(stats["reload_errors"], [], "reload errors")
    t.eq(len(bad), 0, "sessions whose backend survived but whose bytes did not")
    t.eq(len(unexcused), 0, "new connections that failed while backends were up")

    # -- resources back to baseline
    pipe_bound = 2 * PIPE_POOL * WORKERS
    ok = wait_until(lambda: fd_kinds(lb)[0] <= base_socks, 15, 0.05)
    socks, pipes = fd_kinds(lb)
    rss1 = lb.rss_kb()
    t.log("after: %d sockets (baseline %d, peak %d), %d pipe fds (peak %d, bound %d), "
          "RSS %d KiB (start %d, after warm-up %s, bound +%d)"
          % (socks, base_socks, stats["max_socks"], pipes, stats["max_pipes"], pipe_bound,
             rss1, rss0, stats["rss_warm"], RSS_GROWTH_KIB))
    t.check(ok, "sockets did not return to baseline: %d > %d" % (socks, base_socks))
    t.check(pipes <= pipe_bound, "%d pipe fds left, above the pools' %d" % (pipes, pipe_bound))
    t.check(stats["max_pipes"] <= pipe_bound + 4 * (CLIENTS + 2),
            "peak of %d pipe fds" % stats["max_pipes"])
    if stats["rss_warm"] is not None:
        t.check(rss1 <= stats["rss_warm"] + RSS_GROWTH_KIB,
                "RSS grew from %d to %d KiB after the warm-up" % (stats["rss_warm"], rss1))
    t.eq(lb.stop(10), 0, "tcplb exit status")


run(test, timeout=DURATION + 120)
