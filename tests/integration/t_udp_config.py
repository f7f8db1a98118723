"""UDP configuration errors, each reported at FILE:LINE:COL with exit 78:
an unknown protocol, accept_proxy or routes on a UDP listener, one pool
used by a TCP and a UDP listener, proxy_protocol towards UDP servers, a
negative `responses`; and what is fine: a TCP and a UDP listener on the
same address, `--udp` without backends is a usage error (64)."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def check(t, text, want_rc, needles):
    path = t.write("c.yaml", text)
    rc, out, err = t.run_tcplb(["--check", "-c", path])
    t.eq(rc, want_rc, "exit status for:\n%s\n%s" % (text, err))
    for n in needles:
        t.check(n in err or n in out, "%r not in:\n%s" % (n, err + out))
    return err


def test(t):
    base = """\
listeners:
  u:
    bind: 127.0.0.1:5353
    protocol: %s
    pool: p
pools:
  p:
    servers: [127.0.0.1:53]
"""
    check(t, base % "udp", 0, ["configuration OK"])
    check(t, base % "tcp", 0, ["configuration OK"])
    check(t, base % "sctp", 78, ["c.yaml:4:15: listeners.u.protocol: unknown protocol 'sctp' (tcp or udp)"])
    check(t, """\
listeners:
  u:
    bind: 127.0.0.1:5353
    protocol: udp
    accept_proxy: true
    trusted: ["127.0.0.1/32"]
    pool: p
pools:
  p:
    servers: [127.0.0.1:53]
""", 78, ["c.yaml:4:15: listeners.u.protocol: a UDP listener cannot have accept_proxy"])
    check(t, """\
listeners:
  u:
    bind: 127.0.0.1:5353
    protocol: udp
    routes:
      - { sni: a.example, pool: p }
pools:
  p:
    servers: [127.0.0.1:53]
""", 78, ["c.yaml:6:7: listeners.u.protocol: a UDP listener cannot have routes"])
    check(t, """\
listeners:
  t:
    bind: 127.0.0.1:5353
    pool: p
  u:
    bind: 127.0.0.1:5353
    protocol: udp
    pool: p
pools:
  p:
    servers: [127.0.0.1:53]
""", 78, ["c.yaml:8:11: listeners.u.pool: pool 'p' is used by TCP listener 't' already"])
    check(t, """\
listeners:
  t:
    bind: 127.0.0.1:5353
    pool: p
  u:
    bind: 127.0.0.1:5353
    protocol: udp
    pool: q
pools:
  p:
    servers: [127.0.0.1:53]
  q:
    servers: [127.0.0.1:53]
""", 0, ["configuration OK"])
    check(t, """\
listeners:
  u:
    bind: 127.0.0.1:5353
    protocol: udp
    pool: p
pools:
  p:
    proxy_protocol: v2
    servers: [127.0.0.1:53]
""", 78, ["pool 'p': proxy_protocol is for TCP"])
    # What only TCP has: a check that connects, Multipath TCP.
    check(t, """\
listeners:
  u: {bind: 127.0.0.1:5353, protocol: udp, pool: p}
pools:
  p:
    health_check: {type: http}
    servers: [127.0.0.1:53]
""", 78, ["pool 'p': health_check.type http is for TCP"])
    check(t, """\
listeners:
  u: {bind: 127.0.0.1:5353, protocol: udp, pool: p}
pools:
  p:
    mptcp: true
    servers: [127.0.0.1:53]
""", 78, ["pool 'p': mptcp is for TCP"])
    check(t, """\
listeners:
  u: {bind: 127.0.0.1:5353, protocol: udp, pool: p, mptcp: true}
pools:
  p:
    servers: [127.0.0.1:53]
""", 78, ["listener 'u': mptcp is for TCP"])
    check(t, """\
listeners:
  u:
    bind: 127.0.0.1:5353
    protocol: udp
    pool: p
pools:
  p:
    responses: -1
    servers: [127.0.0.1:53]
""", 78, ["c.yaml:8:16: pools.p.responses"])
    check(t, """\
listeners:
  u:
    bind: ["127.0.0.1:5353", "127.0.0.1:5353"]
    protocol: udp
    pool: p
pools:
  p:
    servers: [127.0.0.1:53]
""", 78, ["is bound twice"])
    check(t, """\
listeners:
  u:
    bind: 127.0.0.1:5353
    protocol: udp
    pool: p
pools:
  p:
    health_check: { send_proxy: true }
    servers: [127.0.0.1:53]
""", 78, ["pool 'p': health_check.send_proxy is for TCP"])
    # loops: a UDP server at the UDP listener's own address is one, at a
    # TCP listener's address (another socket) it is not
    check(t, """\
listeners:
  u:
    bind: 127.0.0.1:5353
    protocol: udp
    pool: p
pools:
  p:
    servers: [127.0.0.1:5353]
""", 78, ["would loop back to tcplb"])
    check(t, """\
listeners:
  t:
    bind: 127.0.0.1:5353
    pool: q
  u:
    bind: 127.0.0.1:5454
    protocol: udp
    pool: p
pools:
  p:
    servers: [127.0.0.1:5353]
  q:
    servers: [127.0.0.1:53]
""", 0, ["configuration OK"])
    rc, out, err = t.run_tcplb(["--udp"])
    t.eq(rc, 64, "--udp without backends: %s" % err)
    t.check("--udp needs BACKEND arguments" in err, err)


if __name__ == "__main__":
    run(test, timeout=30)
