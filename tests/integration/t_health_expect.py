"""Health checks with send/expect: a server answering the wrong bytes, and
one that never answers, are marked down (logged, naming the server) and get
no traffic; a server whose right answer arrives in pieces stays up."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def make_handler(kind):
    def handler(c, b):
        first = c.recv(64)
        if first.startswith(b"PI"):          # a health check
            while b"\r\n" not in first and len(first) < 64:
                more = c.recv(64)
                if not more:
                    break
                first += more
            with b.lock:
                b.checks = getattr(b, "checks", 0) + 1
            if kind == "good":
                c.sendall(b"+PO")             # the expected bytes in two pieces
                time.sleep(0.03)
                c.sendall(b"NG and more\r\n")
            elif kind == "wrong":
                c.sendall(b"-ERR nope\r\n")
            elif kind == "silent":
                c.settimeout(2)
                try:
                    c.recv(10)
                except OSError:
                    pass
            return
        if first.startswith(b"HELLO"):       # client traffic
            b.record("traffic")
            c.sendall(b.name.encode() + b"\n")
            c.settimeout(2)
            try:
                c.recv(10)
            except OSError:
                pass
    return handler


def test(t):
    good = t.thread_backend(make_handler("good"), name="goodsrv")
    wrong = t.thread_backend(make_handler("wrong"), name="wrongsrv")
    silent = t.thread_backend(make_handler("silent"), name="silentsrv")
    port = free_port()
    addr = ("127.0.0.1", port)
    cfg = """\
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    health_check:
      interval: 200ms
      timeout: 300ms
      rise: 1
      fall: 2
      send: "PING\\r\\n"
      expect: "+PONG"
    servers:
      - {address: "%s", name: goodsrv}
      - {address: "%s", name: wrongsrv}
      - {address: "%s", name: silentsrv}
""" % (port, good.hostport, wrong.hostport, silent.hostport)
    lb = t.start_config(cfg)
    for srv in ("wrongsrv", "silentsrv"):
        m = lb.wait_stderr(r"^.*%s.*\bdown\b.*$" % srv, timeout=3, flags=re.M | re.I)
        t.check(m, "no log line says %s is down within 3s" % srv)
        t.log("log:", m.group(0))
    t.check(getattr(wrong, "checks", 0) >= 2, "wrongsrv got %d health checks" % getattr(wrong, "checks", 0))
    t.check(getattr(good, "checks", 0) >= 2, "goodsrv got %d health checks" % getattr(good, "checks", 0))
    t.check(not lb.wait_stderr(r"^.*goodsrv.*\bdown\b.*$", timeout=0.1, flags=re.M | re.I),
            "goodsrv was marked down (reply in pieces, or longer than expect?)")
    wrong.results.clear()
    silent.results.clear()
    names = []
    for i in range(20):
        s = connect(addr)
        s.sendall(b"HELLO\n")
        names.append(recv_line(s, 2))
        s.close()
    t.log("20 clients:", set(names))
    t.eq(set(names), {"goodsrv"}, "servers that took the 20 clients")
    t.eq(len(wrong.results) + len(silent.results), 0, "traffic that reached down servers")


run(test)
