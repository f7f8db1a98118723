"""global.admin_socket and global.metrics in the file: bad values are
FILE:LINE:COL errors of `tcplb -t`; a path that cannot be bound, a busy
metrics port, or a non-socket file at the path fail the start with a clear
message (exit 1); a reload that changes them keeps the running ones and
says so."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def test(t):
    a = t.identify_backend("A")
    port = free_port()
    body = """\
listeners:
  front: {bind: "127.0.0.1:%d", pool: web}
pools:
  web:
    servers: ["%s"]
""" % (port, a.hostport)
    cfg = t.write("bad.yaml", """\
global:
  admin_socket: relative/admin.sock
  metrics: "no-port"
""" + body)
    rc, out, err = t.run_tcplb(["-t", "-c", cfg])
    t.eq(rc, 78, "bad admin_socket/metrics: " + err)
    t.check("bad.yaml:2:17: global.admin_socket: 'relative/admin.sock' is not an absolute path" in err, err)
    t.check(re.search(r"bad\.yaml:3:12: global\.metrics: .*no-port", err), err)
    cfg = t.write("long.yaml", "global:\n  admin_socket: /%s\n" % ("x" * 120) + body)
    rc, out, err = t.run_tcplb(["-t", "-c", cfg])
    t.eq(rc, 78)
    # 107 for a unix socket address, less room for tcplb's PATH.PID.new
    t.check("path longer than 95 bytes" in err, err)

    # start-time failures: exit 1, say what and where
    notsock = t.write("plain-file", "x")
    cfg = t.write("c1.yaml", "global:\n  admin_socket: %s\n" % notsock + body)
    rc, out, err = t.run_tcplb(["-c", cfg, "--log-target", "stderr"])
    t.eq(rc, 1, "admin_socket on a regular file")
    t.check("admin socket %s: exists and is not a socket" % notsock in err, err)
    t.eq(open(notsock).read(), "x", "the file is left alone")
    cfg = t.write("c2.yaml", "global:\n  admin_socket: %s/nodir/admin.sock\n" % t.dir + body)
    rc, out, err = t.run_tcplb(["-c", cfg, "--log-target", "stderr"])
    t.eq(rc, 1)
    t.check("nodir/admin.sock: bind: No such file or directory" in err, err)
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    t.add_closer(busy)
    cfg = t.write("c3.yaml", "global:\n  metrics: 127.0.0.1:%d\n" % busy.getsockname()[1] + body)
    rc, out, err = t.run_tcplb(["-c", cfg, "--log-target", "stderr"])
    t.eq(rc, 1)
    t.check("metrics: cannot listen on 127.0.0.1:%d" % busy.getsockname()[1] in err, err)

    # a stale socket from a previous run is replaced; a reload that moves
    # the socket keeps the running one and says so
    sock = t.path("admin.sock")
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(sock)
    stale.close()
    text = "global:\n  admin_socket: %s\n" % sock + body
    lb = t.start_config(text)
    t.check(admin_send(sock, "show info").startswith("version:"), "stale socket replaced")
    t.reload(lb, "global:\n  admin_socket: %s\n" % t.path("other.sock") + body)
    t.check(lb.wait_stderr(r"global\.admin_socket and global\.metrics change only at a restart; keeping %s"
                           % re.escape(sock)), "warned")
    t.check(re.search(r"^generation: 2$", admin_send(sock, "show info"), re.M), "old socket serves gen 2")
    t.check(not os.path.exists(t.path("other.sock")), "new path not bound")


run(test)
