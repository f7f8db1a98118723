"""GET /metrics: Prometheus text that `promtool check metrics` accepts
without a finding (with a pool name that needs escaping), whose counters
agree with the traffic sent; every metric the Grafana dashboard
(contrib/grafana/tcplb.json) queries exists in it; the HTTP side is bounded
(404, 405, oversized request, idle client) and never blocks traffic."""
import sys, os, json, shutil
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def samples(text):
    """{name: [(labels dict, value)]}"""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line)
        if not m:
            raise TestFailure("unparsable sample line: %r" % line)
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        out.setdefault(m.group(1), []).append((labels, float(m.group(4))))
    return out


def value(s, name, **want):
    for labels, v in s.get(name, []):
        if all(labels.get(k) == w for k, w in want.items()):
            return v
    raise TestFailure("no sample %s%r" % (name, want))


def test(t):
    promtool = shutil.which("promtool")
    if promtool is None:
        t.fail("promtool not installed (Debian package prometheus; see .ci/setup)")
    a = t.identify_backend("A")
    port = free_port()
    mport = free_port()
    sock = t.path("admin.sock")
    lb = t.start_config("""\
global:
  admin_socket: %s
  metrics: 127.0.0.1:%d
listeners:
  front: {bind: "127.0.0.1:%d", pool: 'we"b\\x'}
pools:
  'we"b\\x':
    retries: 1
    health_check: {interval: 200ms}
    servers:
      - {address: "%s", name: app1}
      - {address: "127.0.0.1:%d", name: dead}
""" % (sock, mport, port, a.hostport, refused_port()))
    addr = ("127.0.0.1", port)
    maddr = ("127.0.0.1", mport)
    for i in range(10):
        s = connect(addr)
        t.eq(recv_line(s), "A")
        t.check(t.echo_ok(s, b"y" * 100), "echo")
        s.close()
    time.sleep(0.5)

    def scrape():
        st, h, body = http_get(maddr, "/metrics")
        t.eq(st, 200)
        t.eq(h.get("content-type"), "text/plain; version=0.0.4; charset=utf-8")
        return body.decode()

    def settled():
        text = scrape()
        s = samples(text)
        return (text, s) if value(s, "tcplb_connections_active") == 0 and \
            value(s, "tcplb_pool_connection_duration_seconds_count") == 10 else None
    r = wait_until(settled, timeout=5)
    t.check(r, "counters never settled:\n" + scrape())
    text, s = r
    p = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=30)
    t.eq((p.returncode, p.stdout.decode() + p.stderr.decode()), (0, ""),
         "promtool check metrics findings")

    pool = 'we\\"b\\\\x'       # as escaped in the exposition format
    t.eq(value(s, "tcplb_server_connections_total", pool=pool, server="app1"), 10)
    t.eq(value(s, "tcplb_server_bytes_in_total", pool=pool, server="app1"), 1000)
    t.eq(value(s, "tcplb_server_bytes_out_total", pool=pool, server="app1"), 1000 + 20)
    t.eq(value(s, "tcplb_pool_connections_total", pool=pool), 10)
    t.eq(value(s, "tcplb_listener_connections_total", listener="front"), 10)
    t.eq(value(s, "tcplb_listener_bytes_in_total", listener="front"), 1000)
    t.eq(value(s, "tcplb_connections_total"), 10)
    t.eq(value(s, "tcplb_server_up", pool=pool, server="app1"), 1)
    t.eq(value(s, "tcplb_server_state", pool=pool, server="app1", state="ready"), 1)
    t.eq(value(s, "tcplb_pool_connect_time_seconds_count", pool=pool), 10)
    t.eq(value(s, "tcplb_pool_connect_time_seconds_bucket", pool=pool, le="+Inf"), 10)
    t.check(value(s, "tcplb_pool_connect_failures_total", pool=pool, reason="refused") >= 1,
            "refused connects counted")
    t.eq(value(s, "tcplb_server_retries_total", pool=pool, server="app1") +
         value(s, "tcplb_server_retries_total", pool=pool, server="dead"),
         value(s, "tcplb_pool_retries_total", pool=pool))
    t.eq(value(s, "tcplb_generation"), 1)
    t.eq(value(s, "tcplb_state", state="ready"), 1)
    t.check(value(s, "process_open_fds") > 5, "fds counted")
    t.check(value(s, "process_max_fds") > value(s, "process_open_fds"), "fd limit")
    t.check(abs(value(s, "process_start_time_seconds") - time.time()) < 120, "start time")
    t.check(value(s, "tcplb_server_check_duration_seconds", pool=pool, server="app1") > 0,
            "check duration")
    # a reload and a failed reload are counted
    t.reload(lb)
    t.write("tcplb.yaml", "listeners: [")
    t.reload(lb)
    s = samples(scrape())
    t.eq(value(s, "tcplb_reloads_total"), 1)
    t.eq(value(s, "tcplb_reloads_failed_total"), 1)
    t.eq(value(s, "tcplb_generation"), 2)

    # the Grafana dashboard queries only metrics that exist
    dash = json.load(open(os.path.join(os.environ["TCPLB_SRCDIR"], "contrib/grafana/tcplb.json")))
    exprs = []

    def walk(o):
        if isinstance(o, dict):
            for k, v in o.items():
                if k in ("expr", "query") and isinstance(v, str):
                    exprs.append(v)
                else:
                    walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)
    walk(dash)
    names = set(re.findall(r"\b((?:tcplb|process)_[a-z0-9_]+)", " ".join(exprs)))
    t.check(len(names) >= 20, "dashboard queries %d metrics" % len(names))
    missing = sorted(n for n in names if n not in s)
    t.eq(missing, [], "dashboard metrics missing from /metrics")

    # HTTP edges
    st, h, body = http_get(maddr, "/nope")
    t.eq(st, 404)
    st, h, body = http_get(maddr, "/metrics", method="POST")
    t.eq(st, 405)
    st, h, body = http_get(maddr, "/metrics", method="HEAD")
    t.eq((st, body), (200, b""))
    t.check(int(h["content-length"]) > 1000, "HEAD content-length")
    st, h, body = http_get(maddr, None, raw=b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 20000)
    t.eq(st, 431, "oversized request")
    idle = connect(maddr)
    t.add_closer(idle)
    t0 = time.monotonic()
    for i in range(3):
        t.eq(t.identify(addr), "A")
        t.eq(http_get(maddr, "/metrics")[0], 200)
    t.check(time.monotonic() - t0 < 3, "an idle metrics client blocks nothing")
    data, how = recv_until_eof(idle, 20)
    # No request head within 5 s: reset, a forced end (issue 21).
    t.eq(how, "reset", "idle metrics client reset at the head deadline")


run(test, timeout=90)
