"""Re-resolution honours /etc/hosts: tcplb runs in a private mount
namespace (unshare -m) with a test file bind-mounted over /etc/hosts, and
follows a change of that file within resolve_interval, without any name
server involved."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def test(t):
    unshare = shutil_which("unshare")
    if unshare is None or os.geteuid() != 0:
        raise Skip("needs root and unshare (util-linux) for a private /etc/hosts")
    if subprocess.run([unshare, "-m", "true"], capture_output=True).returncode != 0:
        raise Skip("unshare -m not permitted here")
    a = t.identify_backend("A", host="127.0.0.2")
    b = t.identify_backend("B", host="127.0.0.3", port=a.port)
    hosts = t.write("hosts", "127.0.0.1 localhost\n127.0.0.2 hostsonly.test\n")
    port = free_port()
    addr = ("127.0.0.1", port)
    cfg = t.write("tcplb.yaml", """\
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    resolve_interval: 200ms
    servers:
      - "hostsonly.test:%d"
""" % (port, a.port))
    t.notify_receiver()
    wrapper = [unshare, "-m", "--propagation", "private", "sh", "-c",
               'mount --bind "$0" /etc/hosts && exec "$@"', hosts, t.bin]
    first = t.notify.count()
    lb = t.start(["-c", cfg, "--log-target", "stderr"], env={"NOTIFY_SOCKET": t.notify.path},
                 argv0=wrapper)
    t.check(t.notify.wait_for("READY=1", start=first, timeout=5), "no READY=1")
    t.eq(t.identify(addr), "A", "at load, from the private /etc/hosts")
    # rewrite in place: the bind mount shows the same inode
    with open(hosts, "w") as f:
        f.write("127.0.0.1 localhost\n127.0.0.3 hostsonly.test\n")
    t0 = time.monotonic()
    t.check(wait_until(lambda: t.identify(addr) == "B", 5, 0.02), "the /etc/hosts change was not followed")
    t.log("/etc/hosts change took effect after %.3fs" % (time.monotonic() - t0))
    t.check(lb.wait_stderr(r"pool p: 'hostsonly\.test' changed: \+127\.0\.0\.3:%d -127\.0\.0\.2:%d" % (a.port, a.port), 2),
            "change not logged")
    # the host's own /etc/hosts was never touched
    with open("/etc/hosts") as f:
        t.check("hostsonly.test" not in f.read(), "the test leaked into the real /etc/hosts")


def shutil_which(name):
    import shutil
    return shutil.which(name)


run(test)
