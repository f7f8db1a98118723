"""mirror: { pool, percent } -- the client's bytes reach the primary and the
shadow intact (sha256 on both, on the splice path and the buffered one);
the shadow's replies are dropped; a shadow that never reads or is down
loses its copy (cut, counted in metrics and the access log) and never
slows the client; percent mirrors about that share of connections."""
import sys, os, hashlib, threading, re
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def sink(c, be):
    """Read to EOF; record (sha256, bytes); answer 'ok <n>' then close."""
    h = hashlib.sha256()
    n = 0
    while True:
        d = c.recv(262144)
        if not d:
            break
        h.update(d)
        n += len(d)
    be.record((h.hexdigest(), n))
    try:
        c.sendall(b"ok %d\n" % n)
    except OSError:
        pass


def chatty_sink(c, be):
    """A shadow that also talks back (its replies must be dropped)."""
    c.sendall(b"SHADOW SAYS HELLO\n" * 100)
    sink(c, be)


def stuck(c, be):
    be.record("accepted")
    time.sleep(8)


def send(port, data, chunk=None, pause=0.0):
    """Send data, half-close, read the answer; returns (answer, seconds)."""
    t0 = time.monotonic()
    s = connect(("127.0.0.1", port), timeout=20)
    if chunk:
        for i in range(0, len(data), chunk):
            s.sendall(data[i:i + chunk])
            if pause:
                time.sleep(pause)
    else:
        s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    ans, how = recv_until_eof(s, 20)
    s.close()
    return ans.decode(), time.monotonic() - t0


def metric(mport, name):
    st, hdrs, body = http_get(("127.0.0.1", mport), "/metrics")
    m = re.search(r"^%s (\d+)$" % name, body.decode() if isinstance(body, bytes) else body, re.M)
    return int(m.group(1)) if m else None


def test(t):
    primary = t.thread_backend(sink, name="primary")
    shadow = t.thread_backend(chatty_sink, name="shadow")
    never = t.thread_backend(stuck, name="stuck")
    mport = free_port()
    ports = {k: free_port() for k in ("front", "slow", "down", "plain", "half")}
    lb = t.start_config("""\
global:
  access_log: true
  metrics: 127.0.0.1:%d
listeners:
  front: {bind: "127.0.0.1:%d", pool: app}
  slow: {bind: "127.0.0.1:%d", pool: app_stuck}
  down: {bind: "127.0.0.1:%d", pool: app_down}
  plain: {bind: "127.0.0.1:%d", pool: app_plain}
  half: {bind: "127.0.0.1:%d", pool: app_half}
pools:
  app:
    mirror: {pool: shadow}
    servers: ["%s"]
  app_stuck:
    mirror: {pool: shadow_stuck}
    servers: ["%s"]
  app_down:
    mirror: {pool: shadow_down}
    servers: ["%s"]
  app_plain:
    servers: ["%s"]
  app_half:
    mirror: {pool: shadow, percent: 50}
    servers: ["%s"]
  shadow:
    servers: ["%s"]
  shadow_stuck:
    servers: ["%s"]
  shadow_down:
    servers: ["127.0.0.1:%d"]
""" % ((mport,) + tuple(ports[k] for k in ("front", "slow", "down", "plain", "half"))
       + (primary.hostport,) * 5 + (shadow.hostport, never.hostport, refused_port())))

    # splice path (bulk) and buffered path (small writes, pauses)
    for what, data, chunk, pause in (("bulk", os.urandom(8 << 20), None, 0.0),
                                      ("small", os.urandom(60000), 600, 0.001)):
        want = hashlib.sha256(data).hexdigest()
        np_, ns = len(primary.results), len(shadow.results)
        ans, secs = send(ports["front"], data, chunk, pause)
        t.eq(ans, "ok %d\n" % len(data), "%s: the primary's answer (the shadow's is dropped)" % what)
        t.check(wait_until(lambda: len(shadow.results) > ns, 5), "%s: the shadow saw no end" % what)
        t.eq(primary.results[np_], (want, len(data)), "%s: sha256 and size at the primary" % what)
        t.eq(shadow.results[ns], (want, len(data)), "%s: sha256 and size at the shadow" % what)
        t.log("%s: %d bytes in %.2fs, both copies intact" % (what, len(data), secs))
    t.check(lb.wait_stderr(r"listener=front .* mirror=ok mirror_bytes=\d+$"), "no access-log mirror fields")

    # A shadow that never reads: the client is not slowed, the copy is cut.
    data = os.urandom(32 << 20)
    want = hashlib.sha256(data).hexdigest()
    ans, base = send(ports["plain"], data)
    t.eq(ans, "ok %d\n" % len(data), "plain")
    ans, secs = send(ports["slow"], data)
    t.eq(ans, "ok %d\n" % len(data), "with a stuck shadow")
    t.eq(primary.results[-1], (want, len(data)), "primary intact beside a stuck shadow")
    t.log("32 MiB: %.2fs without a mirror, %.2fs with a shadow that never reads" % (base, secs))
    t.check(secs < base * 3 + 1.0, "the stuck shadow slowed the client: %.2fs against %.2fs" % (secs, base))
    t.check(lb.wait_stderr(r"listener=slow .* mirror=cut mirror_bytes=\d+$"), "no mirror=cut for the stuck shadow")

    # A shadow that is down: cut at once, the client unharmed.
    cuts = metric(mport, "tcplb_mirror_cuts_total")
    ans, secs = send(ports["down"], b"hello down shadow\n")
    t.eq(ans, "ok 18\n", "with a down shadow")
    t.check(lb.wait_stderr(r"listener=down .* mirror=cut mirror_bytes=0$"), "no mirror=cut for the down shadow")
    t.check(wait_until(lambda: metric(mport, "tcplb_mirror_cuts_total") >= cuts + 1, 3), "cut not counted")

    # percent: 50 -> about half of 60 connections
    before = metric(mport, "tcplb_mirror_connections_total")
    for i in range(60):
        send(ports["half"], b"x" * 10)
    n = metric(mport, "tcplb_mirror_connections_total") - before
    t.log("percent 50: %d of 60 mirrored" % n)
    t.check(15 <= n <= 45, "percent 50 mirrored %d of 60" % n)
    mb = metric(mport, "tcplb_mirror_bytes_total")
    t.check(mb >= (8 << 20) + 60000, "tcplb_mirror_bytes_total %s" % mb)
    lb.stop()

    # Bad mirror settings: one clear error each, at its place.
    for body, want in (
            ("mirror: {pool: nope}", "5:20: pools.a.mirror.pool: unknown pool 'nope'"),
            ("mirror: {pool: a}", "5:20: pools.a.mirror.pool: a pool cannot mirror to itself"),
            ("mirror: {pool: b, percent: 0}", "5:32: pools.a.mirror.percent: 0 is out of range (1-100)"),
            ("mirror: {percent: 5}", "5:13: pools.a.mirror: missing required key 'pool'"),
            ("mirror: {pool: c}", "5:20: pools.a.mirror.pool: pool 'c' mirrors to another pool itself")):
        bad = t.write("bad.yaml", """\
listeners:
  front: { bind: "127.0.0.1:%d", pool: a }
pools:
  a:
    %s
    servers: ["%s"]
  b:
    servers: ["%s"]
  c:
    mirror: {pool: b}
    servers: ["%s"]
""" % (ports["front"], body, primary.hostport, primary.hostport, primary.hostport))
        rc, out, err = t.run_tcplb(["--check", "--config", bad], timeout=15)
        t.eq(rc, 78, "exit status of --check with " + body)
        t.check(want in err, "error for %r: %r" % (body, err))
    bad = t.write("udp.yaml", """\
listeners:
  d: { bind: "127.0.0.1:%d", protocol: udp, pool: dns }
  t: { bind: "127.0.0.1:%d", pool: app }
pools:
  dns:
    servers: ["127.0.0.1:53"]
  app:
    mirror: { pool: dns }
    servers: ["%s"]
""" % (ports["front"], ports["slow"], primary.hostport))
    rc, out, err = t.run_tcplb(["--check", "--config", bad], timeout=15)
    t.eq(rc, 78, "exit status of --check mirroring to a UDP pool")
    t.check("pool 'app': mirror is for TCP; dns serves a UDP listener" in err, err)


run(test)
