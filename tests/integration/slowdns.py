"""Test helpers for the upgrade tests that must hold a new tcplb process up
while it loads: a name server that answers late, and a closer that kills
a process.  Shared by t_upgrade_dies.py and t_upgrade_reload.py."""
from lib import *

__all__ = ["SlowDns", "ProcessKiller"]


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
