"""bandwidth: { upload, download } per connection -- the rate measured over
2 s is within 10% of the limit in each direction, on the splice path (a
rate whose 20 ms quantum exceeds the 64 KiB buffer: reads fill it, so the
relay switches to splice) and on the buffered path (a small rate); after an
idle second the burst is at most one second's worth; an unlimited pool is
unaffected and two limited connections are limited each on its own."""
import sys, os, threading
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *

WINDOW = 2.0
BLOB = b"x" * 65536


def handler(c, be):
    mode = c.recv(1)
    if mode == b"D":                      # stream to the client
        end = time.monotonic() + WINDOW + 3
        try:
            while time.monotonic() < end:
                c.sendall(BLOB)
        except OSError:
            pass
    elif mode in (b"U", b"B"):            # count what arrives in a window
        window = WINDOW if mode == b"U" else 0.5
        first, total = None, 0
        while True:
            try:
                d = c.recv(262144)
            except OSError:
                break
            if not d:
                break
            now = time.monotonic()
            if first is None:
                first = now
            if now - first >= window:
                break
            total += len(d)
        be.record((mode, total / window))


def pipes(pid):
    n = 0
    d = "/proc/%d/fd" % pid
    for f in os.listdir(d):
        try:
            if os.readlink(os.path.join(d, f)).startswith("pipe:"):
                n += 1
        except OSError:
            pass
    return n


def download(port, out, key):
    s = connect(("127.0.0.1", port), timeout=10)
    s.sendall(b"D")
    first, total = None, 0
    while True:
        d = s.recv(262144)
        if not d:
            break
        now = time.monotonic()
        if first is None:
            first = now
        if now - first >= WINDOW:
            break
        total += len(d)
    s.close()
    out[key] = total / WINDOW


def upload(t, be, port, mode=b"U", idle=0.0):
    """Send as fast as possible until the backend has measured; its rate."""
    before = len(be.results)
    s = connect(("127.0.0.1", port), timeout=10)
    s.sendall(mode)
    time.sleep(idle)
    end = time.monotonic() + WINDOW + 5
    s.setblocking(False)
    while time.monotonic() < end and len(be.results) == before:
        try:
            s.send(BLOB)
        except BlockingIOError:
            time.sleep(0.002)
        except OSError:
            break
    s.close()
    wait_until(lambda: len(be.results) > before, timeout=10)
    return be.results[before][1]


def config(port, be, up, down):
    return """\
global:
  workers: 1
listeners:
  front:
    bind: 127.0.0.1:%d
    pool: p
pools:
  p:
    bandwidth: { upload: %s, download: %s }
    servers: [%s]
""" % (port, up, down, be.hostport)


def within(t, got, want, what):
    t.log("%s: %.0f B/s, limit %d (%.1f%%)" % (what, got, want, 100.0 * got / want))
    t.check(0.9 * want <= got <= 1.1 * want,
            "%s: %.0f B/s against a limit of %d B/s" % (what, got, want))


def test(t):
    be = t.thread_backend(handler)
    for name, up, upv, down, downv, spliced in (
            ("splice", "2MB/s", 2000000, "4MB/s", 4000000, True),
            ("buffered", "150kB/s", 150000, "100kB/s", 100000, False)):
        port = free_port()
        lb = t.start_config(config(port, be, up, down), cfg_name=name + ".yaml")
        base = pipes(lb.pid)
        out = {}
        th = threading.Thread(target=download, args=(port, out, "d"))
        th.start()
        time.sleep(1.0)
        during = pipes(lb.pid)
        th.join(20)
        within(t, out["d"], downv, name + " download")
        t.log("pipes before %d, during the download %d" % (base, during))
        if spliced:
            t.check(during > base, "the fast download did not use splice")
        else:
            t.eq(during, base, "pipes during the slow download (buffered path)")
        within(t, upload(t, be, port), upv, name + " upload")
        lb.stop()

    # Two connections at once: each gets the whole limit.
    port = free_port()
    lb = t.start_config(config(port, be, "1MB/s", "1MB/s"), cfg_name="two.yaml")
    out = {}
    ths = [threading.Thread(target=download, args=(port, out, k)) for k in "ab"]
    for th in ths:
        th.start()
    for th in ths:
        th.join(20)
    within(t, out["a"], 1000000, "first of two")
    within(t, out["b"], 1000000, "second of two")

    # Idle limited connections cost no timer: 300 of them open and idle,
    # tcplb's threads hardly wake (a timer per connection at the 50/s a
    # held-back direction wakes would be 15,000 wake-ups a second).
    idle = [connect(("127.0.0.1", port)) for _ in range(300)]
    time.sleep(0.5)

    def wakeups():
        n = 0
        for tid in os.listdir("/proc/%d/task" % lb.pid):
            with open("/proc/%d/task/%s/status" % (lb.pid, tid)) as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        n += int(line.split()[1])
        return n
    w0 = wakeups()
    time.sleep(1.0)
    woke = wakeups() - w0
    t.log("300 idle limited connections: %d context switches in 1 s" % woke)
    t.check(woke < 300, "%d wake-ups in 1 s for 300 idle limited connections" % woke)
    for c in idle:
        c.close()
    time.sleep(0.3)

    # Idle for 1.5 s, then as fast as it can: the first 0.5 s carry at
    # most one second's worth (the full bucket) plus 0.5 s of rate.
    rate = upload(t, be, port, mode=b"B", idle=1.5) * 0.5
    t.log("after 1.5 s idle: %d bytes in the first 0.5 s at 1MB/s" % rate)
    t.check(rate <= 1500000 * 1.1, "burst of %d bytes in 0.5 s after an idle "
            "1.5 s at 1MB/s (at most 1 s worth + 0.5 s)" % rate)
    t.check(rate >= 1000000, "no burst after idling: %d bytes in 0.5 s" % rate)
    lb.stop()

    # An unlimited pool is not limited.
    port = free_port()
    lb = t.start_config("""\
listeners:
  front: { bind: "127.0.0.1:%d", pool: p }
pools:
  p:
    bandwidth: false
    servers: [%s]
""" % (port, be.hostport), cfg_name="free.yaml")
    out = {}
    download(port, out, "f")
    t.log("unlimited: %.0f B/s" % out["f"])
    t.check(out["f"] > 20000000, "unlimited pool at %.0f B/s" % out["f"])
    lb.stop()

    # Bad values: one clear error each, at its place.
    for body, want in (
            ("bandwidth: { upload: 10mb/s }",
             "5:26: pools.p.bandwidth.upload: invalid rate '10mb/s': unknown unit 'mb'"),
            ("bandwidth: { download: 10B/s }",
             "5:28: pools.p.bandwidth.download: 10B/s is out of range (1kB/s-1TB/s)"),
            ("bandwidth: {}", "5:16: pools.p.bandwidth: needs upload, download or both"),
            ("bandwidth: { up: 1MB/s }", "5:18: pools.p.bandwidth.up: unknown key (expected one of: upload, download)")):
        bad = t.write("bad.yaml", """\
listeners:
  front: { bind: "127.0.0.1:%d", pool: p }
pools:
  p:
    %s
    servers: [%s]
""" % (port, body, be.hostport))
        rc, out_, err = t.run_tcplb(["--check", "--config", bad], timeout=15)
        t.eq(rc, 78, "exit status of --check with " + body)
        t.check(want in err, "error for %r: %r" % (body, err))


run(test)
