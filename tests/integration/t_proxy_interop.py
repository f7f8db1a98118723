"""PROXY protocol interoperability with real software.  nginx `stream` with
`listen ... proxy_protocol` behind tcplb reports the client's address
($proxy_protocol_addr:$proxy_protocol_port) for v1 and v2; HAProxy with
send-proxy / send-proxy-v2 (with CRC32C and unique-id TLVs, which tcplb
skips) in front of tcplb (accept_proxy) gets its own client's address
through tcplb to that nginx.  nginx and HAProxy run in
the foreground with configurations in the test's directory, on loopback
ports, and are killed at the end."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shutil
from lib import *

NGINX_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"

NGINX = """\
%(load)s
daemon off;
master_process off;
worker_processes 1;
pid %(dir)s/nginx.pid;
error_log %(dir)s/nginx.err info;
events { worker_connections 64; }
stream {
    server {
        listen 127.0.0.1:%(port)d proxy_protocol;
        return "$proxy_protocol_addr $proxy_protocol_port $remote_addr\\n";
    }
}
"""

HAPROXY = """\
global
    maxconn 100
defaults
    mode tcp
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend f1
    bind 127.0.0.1:%(h1)d
    default_backend b1
backend b1
    server tcplb 127.0.0.1:%(lb)d send-proxy
frontend f2
    bind 127.0.0.1:%(h2)d
    unique-id-format %%{+X}o\ %%ci:%%cp_%%fi:%%fp_%%Ts_%%rt
    default_backend b2
backend b2
    server tcplb 127.0.0.1:%(lb)d send-proxy-v2 proxy-v2-options crc32c,unique-id
"""

CFG = """\
global:
  workers: 2
listeners:
  l1: {bind: "127.0.0.1:%(p1)d", pool: v1}
  l2: {bind: "127.0.0.1:%(p2)d", pool: v2}
  fromhaproxy:
    bind: "127.0.0.1:%(p3)d"
    pool: v2
    accept_proxy: true
    trusted: [127.0.0.1/32]
pools:
  v1:
    proxy_protocol: v1
    servers: ["127.0.0.1:%(ng)d"]
  v2:
    proxy_protocol: v2
    servers: ["127.0.0.1:%(ng)d"]
"""


class Proc:
    """A foreground server process killed at cleanup."""
    def __init__(self, argv, log):
        self.log = open(log, "wb")
        self.p = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL)

    def close(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()
        self.log.close()


def listening(port):
    try:
        connect(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def ask(addr, source=None):
    s = connect(addr, source=source, timeout=5)
    try:
        return recv_line(s, 5), s.getsockname()
    finally:
        s.close()


def test(t):
    nginx, haproxy = shutil.which("nginx"), shutil.which("haproxy")
    if nginx is None or haproxy is None:
        raise Skip("nginx or haproxy not installed (see .ci/setup)")
    ng, h1, h2, p1, p2, p3 = (free_port() for _ in range(6))
    d = t.path("")
    load = "load_module %s;" % NGINX_MODULE if os.path.exists(NGINX_MODULE) else ""
    conf = t.write("nginx.conf", NGINX % dict(load=load, dir=d.rstrip("/"), port=ng))
    t.add_closer(Proc([nginx, "-c", conf, "-p", d, "-e", t.path("nginx.err")], t.path("nginx.out")))
    hconf = t.write("haproxy.cfg", HAPROXY % dict(h1=h1, h2=h2, lb=p3))
    t.add_closer(Proc([haproxy, "-db", "-f", hconf], t.path("haproxy.out")))
    if not wait_until(lambda: listening(ng), 5):
        raise TestFailure("nginx did not start: %s" % open(t.path("nginx.err")).read()[-2000:])
    if not wait_until(lambda: listening(h1) and listening(h2), 5):
        raise TestFailure("haproxy did not start: %s" % open(t.path("haproxy.out")).read()[-2000:])
    lb = t.start_config(CFG % dict(p1=p1, p2=p2, p3=p3, ng=ng))
    try:
        connect(("127.0.0.1", p1), source="127.0.0.5").close()
        src = "127.0.0.5"
    except OSError:
        src = None

    # tcplb -> nginx, v1 and v2: nginx sees the client, not tcplb
    for port, name in ((p1, "v1"), (p2, "v2")):
        line, me = ask(("127.0.0.1", port), source=src)
        t.log("nginx behind tcplb (%s) says %r" % (name, line))
        t.eq(line, "%s %d 127.0.0.1" % (me[0], me[1]), "nginx, %s" % name)

    # client -> HAProxy (send-proxy, send-proxy-v2) -> tcplb -> nginx: the
    # client's address crosses both hops
    for port, name in ((h1, "send-proxy"), (h2, "send-proxy-v2")):
        line, me = ask(("127.0.0.1", port), source=src)
        t.log("client -> haproxy %s -> tcplb -> nginx says %r" % (name, line))
        t.eq(line, "%s %d 127.0.0.1" % (me[0], me[1]), "HAProxy %s" % name)
    t.check("refused" not in lb.stderr(), "tcplb refused something: %s" % lb.stderr()[-2000:])


run(test)
