"""--check: a good file prints 'configuration OK' (exit 0); bad files print
every error as FILE:LINE:COL: message (exit 78)."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *

GOOD = """\
# the contract's example, on loopback
global:
  workers: auto            # event-loop threads; auto = one per CPU
  max_connections: 0       # all listeners together; 0 = unlimited
  shutdown_timeout: 30s
  log_level: info          # debug, info, notice, warning, err
  access_log: true         # one log entry per finished client connection

defaults:                  # every pool inherits these; a pool may override each
  balance: roundrobin
  connect_timeout: 5s      # to a server, per attempt
  idle_timeout: 5m         # no byte in either direction for this long closes both sides
  retries: 2               # other servers tried after a failed connect

listeners:
  web:                     # name, used in logs and statistics
    bind: 127.0.0.1:%(p1)d
    pool: web
    max_connections: 10000 # 0 = unlimited
  both:
    bind: ["127.0.0.1:%(p2)d", "127.0.0.2:%(p2)d"]
    pool: other

pools:
  web:
    balance: leastconn     # roundrobin | leastconn | source | random | first
    connect_timeout: 2s
    health_check:          # omit or `false` for none
      interval: 2s
      timeout: 1s
      rise: 2              # consecutive successes to mark a server up
      fall: 3              # consecutive failures to mark it down
      send: "PING\\r\\n"     # optional: bytes to send after connecting
      expect: "+PONG"      # optional: the reply must start with these bytes
    servers:
      - 127.0.0.1:8080                      # short form
      - address: localhost:8081
        name: app2                         # default: the address
        weight: 3                          # default 1; 0 = takes no new connections
        max_connections: 500               # default 0 = unlimited
        backup: true                       # used only while no other server is up
  other:
    balance: source
    connect_timeout: 1500ms
    idle_timeout: 1h
    retries: 0
    health_check: false
    servers:
      - "[::1]:9000"
      - address: 127.0.0.1:9001
        weight: 0
"""

# (name, text, [expected error lines], expected substrings in that message)
SINGLE = [
    ("unknown-key", """\
listeners:
  web:
    bind: 127.0.0.1:8080
    pool: p
    colour: blue
pools:
  p:
    servers: [127.0.0.1:8081]
""", [5], ["colour"]),
    ("unknown-server-key", """\
listeners:
  web:
    bind: 127.0.0.1:8080
    pool: p
pools:
  p:
    servers:
      - address: 127.0.0.1:8081
        wieght: 3
""", [9], ["wieght"]),
    ("wrong-type", """\
defaults:
  retries: many
listeners:
  web: {bind: "127.0.0.1:8080", pool: p}
pools:
  p:
    servers: [127.0.0.1:8081]
""", [2], ["retries"]),
    ("servers-not-a-list", """\
listeners:
  web: {bind: "127.0.0.1:8080", pool: p}
pools:
  p:
    servers: 127.0.0.1:8081
""", [5], ["servers"]),
    ("missing-pool", """\
listeners:
  web:
    bind: 127.0.0.1:8080
    pool: nosuchpool
pools:
  p:
    servers: [127.0.0.1:8081]
""", [4], ["nosuchpool"]),
    ("duplicate-listener", """\
listeners:
  web:
    bind: 127.0.0.1:8080
    pool: p
  web:
    bind: 127.0.0.1:8082
    pool: p
pools:
  p:
    servers: [127.0.0.1:8081]
""", [2, 5], ["web"]),
    ("duplicate-pool", """\
listeners:
  web: {bind: "127.0.0.1:8080", pool: p}
pools:
  p:
    servers: [127.0.0.1:8081]
  p:
    servers: [127.0.0.1:8082]
""", [4, 6], []),
    ("bad-duration", """\
defaults:
  connect_timeout: 5x
listeners:
  web: {bind: "127.0.0.1:8080", pool: p}
pools:
  p:
    servers: [127.0.0.1:8081]
""", [2], ["5x"]),
    ("negative-duration", """\
pools:
  p:
    idle_timeout: -3s
    servers: [127.0.0.1:8081]
listeners:
  web: {bind: "127.0.0.1:8080", pool: p}
""", [3], []),
    ("unresolvable-host", """\
listeners:
  web: {bind: "127.0.0.1:8080", pool: p}
pools:
  p:
    servers:
      - 127.0.0.1:8081
      - nonexistent.invalid:80
""", [7], ["nonexistent.invalid"]),
    ("port-out-of-range", """\
listeners:
  web:
    bind: 127.0.0.1:70000
    pool: p
pools:
  p:
    servers: [127.0.0.1:8081]
""", [3], ["70000"]),
    ("negative-weight", """\
listeners:
  web: {bind: "127.0.0.1:8080", pool: p}
pools:
  p:
    servers:
      - address: 127.0.0.1:8081
        weight: -1
""", [7], ["weight"]),
    ("unknown-balance", """\
listeners:
  web: {bind: "127.0.0.1:8080", pool: p}
pools:
  p:
    balance: fastest
    servers: [127.0.0.1:8081]
""", [5], ["fastest"]),
    ("bad-log-level", """\
global:
  log_level: loud
listeners:
  web: {bind: "127.0.0.1:8080", pool: p}
pools:
  p:
    servers: [127.0.0.1:8081]
""", [2], ["loud"]),
    ("yaml-syntax", """\
listeners:
  web:
    bind: 127.0.0.1:8080
    pool: [p
pools:
  p:
    servers: [127.0.0.1:8081]
""", [4, 5, 6, 7, 8], []),
]

THREE = """\
global:
  workers: 2
  bogus_key: 1
defaults:
  retries: many
listeners:
  web:
    bind: 127.0.0.1:8080
    pool: nosuchpool
pools:
  web:
    servers:
      - 127.0.0.1:8081
"""

LOC = r"(?:\S*/)?%s:(\d+):(\d+):\s*(.+)"


def errors_of(text, fname):
    return [(int(m.group(1)), int(m.group(2)), m.group(3))
            for m in re.finditer(LOC % re.escape(fname), text)]


def test(t):
    # good
    good = t.write("good.yaml", GOOD % {"p1": free_port(), "p2": free_port()})
    rc, out, err = t.run_tcplb(["-t", "-c", good], timeout=15)
    t.log("good: exit %s: %r" % (rc, (out + err).strip()[:300]))
    t.check("configuration OK" in out + err, "no 'configuration OK' for the good file")
    t.eq(rc, 0, "exit status of -t on the good file")
    rc, out, err = t.run_tcplb(["--check", "--config", good], timeout=15)
    t.eq(rc, 0, "exit status of --check --config on the good file")

    # three errors at once, all reported
    p = t.write("three.yaml", THREE)
    rc, out, err = t.run_tcplb(["-t", "-c", p], timeout=15)
    text = out + err
    t.log("three errors: exit %s:\n%s" % (rc, text.strip()))
    t.eq(rc, 78, "exit status of -t on a file with 3 errors")
    errs = errors_of(text, "three.yaml")
    lines = sorted(set(e[0] for e in errs))
    for want_line, key, col_choices in ((3, "bogus_key", (3,)), (5, "retries", (3, 12)),
                                        (9, "nosuchpool", (5, 11))):
        hit = [e for e in errs if e[0] == want_line]
        t.check(hit, "no FILE:%d:COL error (%s); reported lines: %s" % (want_line, key, lines))
        t.check(any(key in e[2] or key in text for e in hit),
                "error at line %d does not name %r: %s" % (want_line, key, hit))
        t.check(any(e[1] in col_choices for e in hit),
                "error at line %d: column %s, want one of %s (1-based)"
                % (want_line, [e[1] for e in hit], col_choices))
    t.check("configuration OK" not in text, "said 'configuration OK' for a bad file")

    # the same file without -t: refuses to start, same messages, exit 78
    rc, out, err = t.run_tcplb(["-c", p], timeout=15)
    t.eq(rc, 78, "exit status when starting with an invalid file")
    t.check(len(set(e[0] for e in errors_of(out + err, "three.yaml"))) >= 3,
            "starting with the bad file did not print all 3 errors: %r" % (out + err))

    # one error per file
    failed = []
    for name, text_, want_lines, words in SINGLE:
        fname = name + ".yaml"
        path = t.write(fname, text_)
        rc, out, err = t.run_tcplb(["-t", "-c", path], timeout=20)
        msg = (out + err).strip()
        errs = errors_of(out + err, fname)
        t.log("%-20s exit %s: %s" % (name, rc, msg.replace("\n", " | ")[:300]))
        problems = []
        if rc != 78:
            problems.append("exit %s (want 78)" % rc)
        if not errs:
            problems.append("no FILE:LINE:COL: message")
        elif not any(e[0] in want_lines for e in errs):
            problems.append("line(s) %s, want one of %s" % ([e[0] for e in errs], want_lines))
        for w in words:
            if w not in msg:
                problems.append("message does not mention %r" % w)
        if any(e[1] == 0 for e in errs):
            problems.append("column 0: columns must be 1-based")
        if "configuration OK" in msg:
            problems.append("said configuration OK")
        if problems:
            failed.append("%s: %s" % (name, "; ".join(problems)))
    t.check(not failed, "bad files not reported as required:\n  " + "\n  ".join(failed))


run(test)
