"""SIGHUP during a binary upgrade: `systemctl reload` signals the main
process, which is still the old one while the new process starts.  The
new process may already have read the file before the edit; the reload
must not be lost at the handover.  Here the new process's load is held
up by a slow name server (global.resolvers) after it has read the file;
meanwhile the file changes and the old process gets SIGHUP.  After the
upgrade the new configuration must be in force."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *

DELAY_S = 1.5       # below the resolver's 2 s query timeout


class SlowDns:
    """Answers app.test A with 127.0.0.1 (AAAA: no data), each reply
    after self.delay seconds; records when queries arrive."""
    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.server = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.delay = 0.0
        self.queries = []
        self.stop = False
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while not self.stop:
            try:
                q, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            self.queries.append(time.monotonic())
            threading.Thread(target=self.answer, args=(q, peer, self.delay),
                             daemon=True).start()

    def answer(self, q, peer, delay):
        time.sleep(delay)
        if len(q) < 17:
            return
        end = 12
        while end < len(q) and q[end] != 0:
            end += q[end] + 1
        qtype = struct.unpack(">H", q[end + 1:end + 3])[0]
        question = q[12:end + 5]
        an = b""
        if qtype == 1:
            an = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton("127.0.0.1")
        hdr = q[:2] + struct.pack(">HHHHH", 0x8180, 1, 1 if an else 0, 0, 0)
        try:
            self.sock.sendto(hdr + question + an, peer)
        except OSError:
            pass

    def close(self):
        self.stop = True
        self.thread.join(2)
        self.sock.close()


class ProcessKiller:
    def __init__(self, pid):
        self.pid = pid

    def close(self):
        try:
            os.kill(self.pid, signal.SIGKILL)
        except OSError:
            pass


def test(t):
    a = t.identify_backend("A")
    b = t.identify_backend("B")
    dns = SlowDns()
    t.add_closer(dns)
    port = free_port()
    addr = ("127.0.0.1", port)
    text = """\
global:
  shutdown_timeout: 5s
  resolvers: ["%s"]
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    servers: ["app.test:%%d"]
""" % (dns.server, port)
    cfg = t.write("tcplb.yaml", text % a.port)
    n = t.notify_receiver()
    lb = t.start(["-w", os.environ.get("TCPLB_TEST_WORKERS", "2"), "-c", cfg,
                  "--log-target", "stderr"], env={"NOTIFY_SOCKET": n.path})
    t.check(n.wait_for("READY=1", timeout=10), "no READY=1 at start")
    t.eq(t.identify(addr), "A", "before the upgrade")

    dns.delay = DELAY_S
    seen = len(dns.queries)
    start = n.count()
    lb.signal(signal.SIGUSR2)
    # The new process has read the file once it asks for app.test.
    t.check(wait_until(lambda: len(dns.queries) > seen, 10),
            "the new process never resolved app.test")
    dns.delay = 0.0
    t.write("tcplb.yaml", text % b.port)
    lb.signal(signal.SIGHUP)
    r = n.wait_for("MAINPID=", start=start, timeout=15)
    t.check(r, "no MAINPID= after SIGUSR2")
    new_pid = int([l for l in r[1].split("\n") if l.startswith("MAINPID=")][0][8:])
    t.add_closer(ProcessKiller(new_pid))
    t.log("new main process %d" % new_pid)
    got = []
    t.check(wait_until(lambda: got.append(t.identify(addr)) or got[-1] == "B", 8,
                       interval=0.2),
            "the reload asked for during the upgrade was lost: the new main "
            "process serves %r (the file says B)" % got[-1:])
    t.eq(lb.wait(10), 0, "exit status of the old process")
    os.kill(new_pid, signal.SIGTERM)


run(test, timeout=60)
