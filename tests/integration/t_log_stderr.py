"""Logging to stderr: the access-log line of a finished connection names the
client, listener, pool, server and the bytes each way; with a JOURNAL_STREAM
that does not match stderr, lines carry '<N>' priority prefixes."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *

UP = 12345     # client -> server
DOWN = 6789    # server -> client


def handler(c, b):
    recv_exact(c, UP, 5)
    c.sendall(b"d" * DOWN)
    c.shutdown(socket.SHUT_WR)
    c.settimeout(3)
    c.recv(10)


def test(t):
    b = t.thread_backend(handler, name="srv")
    port = free_port()
    cfg = """\
global:
  access_log: true
  log_level: info
listeners:
  frontdoor:
    bind: 127.0.0.1:%d
    pool: backpool
pools:
  backpool:
    servers:
      - address: %s
        name: srv-alpha
""" % (port, b.hostport)
    lb = t.start_config(cfg)
    s = connect(("127.0.0.1", port))
    cport = s.getsockname()[1]
    s.sendall(b"u" * UP)
    data, how = recv_until_eof(s, 5)
    t.eq((len(data), how), (DOWN, "eof"), "bytes from the server")
    s.close()
    client = "127.0.0.1:%d" % cport
    m = lb.wait_stderr(r"^.*%s.*$" % re.escape(client), timeout=3)
    t.check(m, "no stderr line names the client %s" % client)
    line = m.group(0)
    t.log("access log line:", line)
    for word in ("frontdoor", "backpool", "srv-alpha"):
        t.check(word in line, "access log line does not name %r" % word)
    t.check(re.search(r"(?<!\d)%d(?!\d)" % UP, line), "access log line lacks bytes in (%d)" % UP)
    t.check(re.search(r"(?<!\d)%d(?!\d)" % DOWN, line), "access log line lacks bytes out (%d)" % DOWN)
    t.check(len(re.findall(r"\d+(?:\.\d+)?\s?(?:ms|s)\b", line)) >= 2,
            "access log line lacks connect time and duration: %r" % line)
    t.check(line.find(str(UP)) != -1 and not line.startswith("<"),
            "with --log-target stderr lines must not carry <N> prefixes: %r" % line)
    lb.stop()

    # access_log: false -> no access line (other logging stays)
    port3 = free_port()
    t.notify = None
    lb3 = t.start_config(cfg.replace(str(port), str(port3)).replace("access_log: true", "access_log: false"),
                         cfg_name="t3.yaml")
    s = connect(("127.0.0.1", port3))
    c3 = "127.0.0.1:%d" % s.getsockname()[1]
    s.sendall(b"u" * UP)
    recv_until_eof(s, 5)
    s.close()
    time.sleep(0.3)
    lb3.stop()
    t.check(c3 not in lb3.stderr(), "access_log: false, yet a line names the client: %r"
            % [l for l in lb3.stderr().split("\n") if c3 in l])

    # auto target, JOURNAL_STREAM that is not our stderr: stderr with <N> prefixes
    port2 = free_port()
    cfg2 = cfg.replace(str(port), str(port2))
    t.notify = None
    lb2 = t.start_config(cfg2, cfg_name="t2.yaml", log_stderr=False,
                         env={"JOURNAL_STREAM": "1:1"})
    s = connect(("127.0.0.1", port2))
    s.sendall(b"u" * UP)
    recv_until_eof(s, 5)
    s.close()
    t.check(lb2.wait_stderr(r"srv-alpha", timeout=3), "no access log on stderr with JOURNAL_STREAM=1:1")
    lb2.stop()
    lines = [l for l in lb2.stderr().split("\n") if l.strip()]
    t.log("stderr with JOURNAL_STREAM=1:1:\n  " + "\n  ".join(lines[:10]))
    bad = [l for l in lines if not re.match(r"<[0-7]>", l)]
    t.check(lines, "no stderr output at all")
    t.check(not bad, "stderr lines without a <N> prefix: %s" % bad[:5])


run(test)
