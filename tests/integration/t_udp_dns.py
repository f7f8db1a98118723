"""UDP with real software: two dnsmasq name servers behind a UDP listener
(`responses: 1`, as for DNS), asked by dig and kdig (answers alternate
between the servers, one flow per query) and loaded by dnsperf (every
query answered, none lost); iperf3 -u through tcplb, its TCP control
connection through a TCP listener on the same port number."""
import sys, os, re, subprocess
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from udplib import *


def dns_part(t):
    need("dig", "kdig", "dnsperf")
    d1 = Dnsmasq(t, {"svc.test": "10.0.0.1"})
    d2 = Dnsmasq(t, {"svc.test": "10.0.0.2"})
    port = free_udp_port()
    sock = t.path("admin.sock")
    cfg = """\
global:
  admin_socket: %s
listeners:
  dns:
    bind: 127.0.0.1:%d
    protocol: udp
    pool: dns
pools:
  dns:
    responses: 1
    health_check:
      interval: 300ms
      timeout: 1s
      # conf/udp.yaml's check: a query for "." NS whose answer starts
      # with the query's id "tc"
      send: "tc\\x01\\x00\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x01"
      expect: "tc"
    servers: [%s, %s]
""" % (sock, port, d1.hostport, d2.hostport)
    p = t.start_config(cfg)
    def checked():
        ss = admin_json(sock, "show servers")["servers"]
        return all((s.get("last_check") or {}).get("result") == "ok" for s in ss)
    t.check(wait_until(checked, 5), "DNS health checks: %r" % admin_json(sock, "show servers"))
    addr = ("127.0.0.1", port)
    answers = []
    for tool in ("dig", "kdig", "dig", "kdig"):
        a = dig(addr, "svc.test", tool)
        t.check(len(a) == 1, "%s: one answer, got %r" % (tool, a))
        answers.append(a[0])
    t.log("answers:", answers)
    t.eq(sorted(answers), ["10.0.0.1", "10.0.0.1", "10.0.0.2", "10.0.0.2"],
         "queries spread over both servers")
    # responses: 1 ends each query's flow at once
    t.check(wait_until(lambda: admin_json(sock, "show listeners")["listeners"][0]["active"] == 0, 2),
            "flows still open after their one response")

    # dnsperf: 3 s, 20 clients; nothing lost
    qf = t.write("queries.txt", "svc.test A\n" * 50)
    r = subprocess.run(["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", qf,
                        "-l", "3", "-c", "20", "-Q", "3000", "-t", "2"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    out = r.stdout.decode()
    sent = int(re.search(r"Queries sent:\s+(\d+)", out).group(1))
    done = int(re.search(r"Queries completed:\s+(\d+)", out).group(1))
    qps = float(re.search(r"Queries per second:\s+([\d.]+)", out).group(1))
    t.log("dnsperf: sent %d, completed %d, %.0f q/s" % (sent, done, qps))
    t.check(sent > 1000, "dnsperf sent only %d queries" % sent)
    t.eq(done, sent, "dnsperf queries answered")
    jl = admin_json(sock, "show listeners")["listeners"][0]
    t.eq(sum(jl["dropped"].values()), 0, "datagrams dropped: %r" % jl["dropped"])
    p.stop()


def iperf_part(t):
    need("iperf3")
    sport = free_udp_port()
    srv = subprocess.Popen(["iperf3", "-s", "-B", "127.0.0.1", "-p", str(sport), "-1"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t.closers.append(type("K", (), {"close": lambda self: (srv.kill(), srv.wait())})())
    wait_until(lambda: subprocess.run(["ss", "-ltn", "sport = :%d" % sport],
                                      stdout=subprocess.PIPE).stdout.count(b"\n") > 1, 3)
    port = free_udp_port()
    sock = t.path("admin2.sock")
    cfg = """\
global:
  admin_socket: %s
listeners:
  iperf-control:
    bind: 127.0.0.1:%d
    pool: control
  iperf-data:
    bind: 127.0.0.1:%d
    protocol: udp
    pool: data
pools:
  control:
    servers: [127.0.0.1:%d]
  data:
    servers: [127.0.0.1:%d]
""" % (sock, port, port, sport, sport)
    p = t.start_config(cfg)
    # under a sanitizer tcplb runs several times slower: a gentler rate
    san = p.sanitizer()
    rate = "10M" if san else "50M"
    r = subprocess.run(["iperf3", "-c", "127.0.0.1", "-p", str(port), "-u", "-b", rate,
                        "-l", "1400", "-t", "2", "-J"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    import json
    # The report is the JSON document on stdout; a warning iperf3 prints
    # first (stderr, or a line before the document) is not part of it.
    out = r.stdout.decode(errors="replace")
    try:
        j = json.loads(out[out.index("{"):])
    except ValueError:
        t.fail("iperf3 output: %r / %r" % (out[-2000:], r.stderr[-500:]))
    t.check("error" not in j, "iperf3 error: %r" % j.get("error"))
    s = j["end"]["sum"]
    t.log("iperf3 -u: %d packets, %d lost, %.1f Mbit/s" % (s["packets"], s["lost_packets"],
                                                          s["bits_per_second"] / 1e6))
    t.check(s["packets"] > (200 if san else 1000), "iperf3 sent only %d datagrams" % s["packets"])
    # tcplb itself drops nothing; the receivers' buffers on a busy
    # machine may (iperf3's default one holds ~20 ms at this rate)
    jl = [l for l in admin_json(sock, "show listeners")["listeners"] if l["protocol"] == "udp"][0]
    dropped = sum(jl["dropped"].values())
    if san:
        t.check(dropped <= s["packets"] // 20, "datagrams dropped by tcplb (%s): %r" % (san, jl["dropped"]))
    else:
        t.eq(dropped, 0, "datagrams dropped by tcplb: %r" % jl["dropped"])
    t.check(jl["datagrams_in"] >= s["packets"] - s["lost_packets"], "datagrams relayed %d" % jl["datagrams_in"])
    # Loss in the kernel's socket buffers while a loaded 2-core machine
    # runs something else is not tcplb's (its own drops are checked above
    # and must be none): only a gross loss says the relay is broken.
    t.check(s["lost_packets"] <= s["packets"] // 4,
            "iperf3 lost %d of %d datagrams" % (s["lost_packets"], s["packets"]))
    p.stop()


def test(t):
    dns_part(t)
    iperf_part(t)


if __name__ == "__main__":
    run(test, timeout=90)
