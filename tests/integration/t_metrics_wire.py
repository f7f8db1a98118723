"""GET /metrics after refused, routed and queued traffic: the families of
refusals (by fixed reason), TLS inspection outcomes, route hits (labelled
by listener, route index and pool -- never the server name), pool queues
and DNS resolution exist with the right labels and values, and `promtool
check metrics` accepts them; the admin socket's `show pools` and `show
servers` (text and JSON) show the queue and the last DNS resolution."""
import sys, os, shutil
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from tlsutil import client_hello


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


def closed(addr):
    """Connect and wait for tcplb to close or reset (a reset may come as
    early as connect())."""
    try:
        s = connect(addr)
        try:
            recv_until_eof(s, 5)
        finally:
            s.close()
    except ConnectionError:
        pass


def test(t):
    promtool = shutil.which("promtool")
    if promtool is None:
        t.fail("promtool not installed (Debian package prometheus; see .ci/setup)")
    r = t.identify_backend("R")
    q = t.identify_backend("Q")
    tls, acl, qport, mport = free_port(), free_port(), free_port(), free_port()
    sock = t.path("admin.sock")
    lb = t.start_config("""\
global:
  admin_socket: %s
  metrics: 127.0.0.1:%d
listeners:
  tls:
    bind: "127.0.0.1:%d"
    inspect_timeout: 3s
    routes:
      - {sni: "a.example", pool: ra}
  acl: {bind: "127.0.0.1:%d", pool: ra, deny: [127.0.0.1]}
  queued: {bind: "127.0.0.1:%d", pool: q}
pools:
  ra: {servers: ["%s"]}
  q:
    max_queue: 1
    queue_timeout: 400ms
    servers:
      - {address: "%s", max_connections: 1}
  dns:
    resolve_interval: 200ms
    servers: ["localhost:%d"]
""" % (sock, mport, tls, acl, qport, r.hostport, q.hostport, r.port))
    maddr = ("127.0.0.1", mport)

    def scrape():
        st, h, body = http_get(maddr, "/metrics")
        t.eq(st, 200)
        return body.decode()

    # routed: a ClientHello naming a.example reaches pool ra
    for i in range(3):
        s = connect(("127.0.0.1", tls))
        s.sendall(client_hello("a.example"))
        t.eq(recv_line(s), "R", "routed by SNI")
        s.close()
    # no route and no listener pool: closed, counted as no_route
    s = connect(("127.0.0.1", tls))
    s.sendall(client_hello("secret-name.example"))
    data, how = recv_until_eof(s, 5)
    s.close()
    # denied
    closed(("127.0.0.1", acl))
    # queue: one holds the only slot, one waits, one finds the queue full
    held, n = t.hold(("127.0.0.1", qport))
    t.eq(n, "Q")
    waiter = connect(("127.0.0.1", qport))
    t.add_closer(waiter)
    t.check(wait_until(lambda: value(samples(scrape()), "tcplb_pool_queue_length", pool="q") == 1, 5),
            "queue length gauge never showed the waiting client")
    jq = [x for x in admin_json(sock, "show pools")["pools"] if x["name"] == "q"][0]
    t.eq((jq["queued"], jq["max_queue"], jq["queued_total"]), (1, 1, 1), "show pools json: %r" % jq)
    lines = admin_send(sock, "show pools").splitlines()
    head = lines[0].split()[1:]
    row = dict(zip(head, [l for l in lines if l.startswith("q ")][0].split()))
    t.eq((row["queued"], row["max_queue"], row["queued_total"]), ("1", "1", "1"), "show pools text")
    closed(("127.0.0.1", qport))
    recv_until_eof(waiter, 5)       # closed after queue_timeout

    def settled():
        text = scrape()
        s = samples(text)
        return (text, s) if value(s, "tcplb_pool_queue_timeouts_total", pool="q") == 1 and \
            value(s, "tcplb_dns_name_ok", pool="dns", host="localhost") == 1 else None
    res = wait_until(settled, timeout=5)
    t.check(res, "counters never settled:\n" + scrape())
    text, s = res
    p = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=30)
    t.eq((p.returncode, p.stdout.decode() + p.stderr.decode()), (0, ""),
         "promtool check metrics findings")

    t.eq(value(s, "tcplb_refused_connections_total", reason="denied"), 1)
    t.eq(value(s, "tcplb_refused_connections_total", reason="no_route"), 1)
    t.eq(value(s, "tcplb_refused_connections_total", reason="rate_total"), 0)
    t.eq(value(s, "tcplb_listener_refused_total", listener="acl"), 1)
    t.eq(value(s, "tcplb_listener_refused_total", listener="tls"), 1)
    t.eq(value(s, "tcplb_listener_refused_total", listener="queued"), 0)
    t.eq(value(s, "tcplb_no_local_address_total"), 0)
    t.eq(value(s, "tcplb_tls_inspect_total", outcome="routed"), 3)
    t.eq(value(s, "tcplb_tls_inspect_total", outcome="no_route"), 1)
    t.eq(value(s, "tcplb_tls_inspect_total", outcome="bad_hello"), 0)
    t.eq(value(s, "tcplb_route_hits_total", listener="tls", route="0", pool="ra"), 3)
    t.check("secret-name" not in text, "a client's server name is never in /metrics")
    t.eq(value(s, "tcplb_pool_queue_length", pool="q"), 0)
    t.eq(value(s, "tcplb_pool_queued_total", pool="q"), 1)
    t.eq(value(s, "tcplb_pool_queue_served_total", pool="q"), 0)
    t.eq(value(s, "tcplb_pool_queue_full_total", pool="q"), 1)
    t.eq(value(s, "tcplb_pool_queue_length", pool="ra"), 0)
    t.eq(value(s, "tcplb_dns_name_failures_total", pool="dns", host="localhost",
               server="localhost:%d" % r.port), 0)
    t.check(value(s, "tcplb_dns_name_changes_total", pool="dns", host="localhost") >= 0, "changes")
    t.check("tcplb_dns_resolution_failures_total" in s, "DNS failure total")
    t.check("tcplb_dns_resolution_changes_total" in s, "DNS change total")

    jl = [x for x in admin_json(sock, "show listeners")["listeners"] if x["name"] == "tls"][0]
    t.eq(jl["routes"], [{"route": 0, "pool": "ra", "hits": 3}], "show listeners routes")
    t.eq(jl["refused"], 1, "show listeners refused")

    # admin: the queue counters, and the DNS result for a host-name server
    jq = [x for x in admin_json(sock, "show pools")["pools"] if x["name"] == "q"][0]
    t.eq((jq["queued"], jq["queued_total"], jq["queue_served"], jq["queue_timeouts"],
          jq["queue_full"]), (0, 1, 0, 1, 1), "show pools json: %r" % jq)
    lines = admin_send(sock, "show pools").splitlines()
    head = lines[0].split()[1:]
    row = dict(zip(head, [l for l in lines if l.startswith("q ")][0].split()))
    t.eq((row["queue_timeouts"], row["queue_full"]), ("1", "1"), "show pools text: %r" % row)
    js = admin_json(sock, "show servers")["servers"]
    d = [x for x in js if x["pool"] == "dns"][0]["dns"]
    t.check(d is not None and d["host"] == "localhost" and d["srv"] is False and
            d["result"] == "ok" and abs(d["time"] - time.time()) < 60, "dns: %r" % d)
    t.eq([x for x in js if x["pool"] == "ra"][0]["dns"], None, "an IP literal has no DNS")
    lines = admin_send(sock, "show servers").splitlines()
    head = lines[0].split()[1:]
    t.eq(head[-3:], ["dns", "dns_age", "origin"])
    row = dict(zip(head, [l for l in lines if l.startswith("dns ")][0].split()))
    t.eq(row["dns"], "ok", "show servers text: %r" % row)
    t.check(re.match(r"^\d+s$", row["dns_age"]), "dns_age: %r" % row)
    t.eq(row["origin"], "dns", "origin of a host-name server")
    row = dict(zip(head, [l for l in lines if l.startswith("ra ")][0].split()))
    t.eq((row["dns"], row["dns_age"], row["origin"]), ("-", "-", "file"))


run(test, timeout=60)
