"""log_interval: a session still open gets an interim access-log record every
interval (interim=yes, bytes since the previous record and in total); the
deltas add up to the totals of the final record; a pool without it writes
none, and an idle session in such a pool still gets its records."""
import sys, os, re
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *

REC = re.compile(r"^.* info: (\S+) listener=front pool=(\w+) server=.*? "
                 r"bytes_in=(\d+) bytes_out=(\d+) .*?end=\"([^\"]*)\""
                 r"(?: interim=(yes))?(?: since_in=(\d+) since_out=(\d+))?$", re.M)


def records(lb, client):
    out = []
    for m in REC.finditer(lb.stderr()):
        if m.group(1) == client:
            out.append({"pool": m.group(2), "in": int(m.group(3)), "out": int(m.group(4)),
                        "end": m.group(5), "interim": m.group(6) == "yes",
                        "since_in": int(m.group(7)) if m.group(7) else None,
                        "since_out": int(m.group(8)) if m.group(8) else None})
    return out


def test(t):
    b = t.backend("echo")
    port = free_port()
    lb = t.start_config("""\
global:
  workers: 2
  access_log: true
listeners:
  front:
    bind: 127.0.0.1:%d
    pool: p
pools:
  p:
    log_interval: 300ms
    servers: [%s]
""" % (port, b.hostport))

    # A session open ~1.65 s, sending 1000 bytes every 100 ms: 5 interim
    # records (0.3, 0.6, ... 1.5 s), then the final one.
    s = connect(("127.0.0.1", port))
    client = "%s:%d" % s.getsockname()
    t0 = time.monotonic()
    sent = 0
    while time.monotonic() - t0 < 1.65:
        s.sendall(b"x" * 1000)
        recv_exact(s, 1000)
        sent += 1000
        time.sleep(0.1)
    s.close()
    t.check(lb.wait_stderr(re.escape(client) + r" .*end=\"client closed\"") is not None,
            "no final record for " + client)
    recs = records(lb, client)
    interim = [r for r in recs if r["interim"]]
    final = [r for r in recs if not r["interim"]]
    t.log("%d interim records for %.2fs; final %s" % (len(interim), time.monotonic() - t0, final))
    t.eq(len(final), 1, "final records")
    # timer slack under sanitizers: 4 to 6
    t.check(4 <= len(interim) <= 6, "%d interim records in 1.65s at 300ms" % len(interim))
    for r in interim:
        t.eq(r["end"], "-", "end of an interim record")
        t.check(r["since_in"] is not None, "interim record without since_in")
    t.eq(final[0]["in"], sent, "bytes_in of the final record")
    t.eq(sum(r["since_in"] for r in recs), sent, "sum of since_in")
    t.eq(sum(r["since_out"] for r in recs), sent, "sum of since_out")
    # the totals only grow, and each since is the difference of totals
    prev = 0
    for r in recs:
        t.eq(r["in"] - prev, r["since_in"], "since_in against the totals")
        prev = r["in"]

    # An idle session still gets its records (no byte moved: since 0).
    s = connect(("127.0.0.1", port))
    client = "%s:%d" % s.getsockname()
    time.sleep(1.0)
    recs = records(lb, client)
    t.check(2 <= len(recs) <= 4, "%d records for an idle session in 1s" % len(recs))
    t.check(all(r["interim"] and r["since_in"] == 0 and r["since_out"] == 0 for r in recs),
            "idle records: %s" % recs)
    s.close()
    lb.stop()

    # A pool without log_interval: no interim record.
    port = free_port()
    lb = t.start_config("""\
global:
  access_log: true
listeners:
  front:
    bind: 127.0.0.1:%d
    pool: q
pools:
  q:
    servers: [%s]
""" % (port, b.hostport), cfg_name="q.yaml")
    s = connect(("127.0.0.1", port))
    client = "%s:%d" % s.getsockname()
    s.sendall(b"abc")
    recv_exact(s, 3)
    time.sleep(0.7)
    s.close()
    t.check(lb.wait_stderr(re.escape(client) + r" .*end=") is not None, "no final record")
    recs = records(lb, client)
    t.eq([r["interim"] for r in recs], [False], "records without log_interval")
    t.eq(recs[0]["since_in"], None, "since_in on a session without interim records")
    lb.stop()

    # Out of range: one clear error with its place.
    bad = t.write("bad.yaml", """\
listeners:
  front: { bind: "127.0.0.1:%d", pool: q }
pools:
  q:
    log_interval: 50ms
    servers: [%s]
""" % (port, b.hostport))
    rc, out, err = t.run_tcplb(["--check", "--config", bad], timeout=15)
    t.eq(rc, 78, "exit status of --check with log_interval: 50ms")
    t.check("bad.yaml:5:19: pools.q.log_interval: 50ms is out of range (0 (off) or 100ms-" in err,
            "error for log_interval: 50ms: %r" % err)


run(test)
