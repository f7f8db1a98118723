#!/usr/bin/env python3
"""Hold N concurrent connections through a proxy and check every one is
served: each client sends one byte and must get it back from an echo backend
while all N stay open.  Prints the proxy's RSS before and after and the
slope in KiB per connection.  Loopback only; bounded in count and time.

    bench/hold.py [-n 50000] [--tcplb ./src/tcplb] [--workers 2]

The proxy holds 2N descriptors, the client N and the backend (a separate
process) N: RLIMIT_NOFILE must allow 2N + a few in one process.  Where the
hard limit cannot be raised (no CAP_SYS_RESOURCE), N is capped to fit and
the cap is printed.  Clients spread over source
addresses 127.0.0.2.. and the backend over several ports, so that no
(source, destination) pair runs out of ephemeral ports.
"""
import argparse
import os
import resource
import selectors
import socket
import subprocess
import sys
import time

IP_BIND_ADDRESS_NO_PORT = 24


def rss_kib(pid):
    total = 0
    for tid in [pid]:
        with open("/proc/%d/status" % tid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


class EchoHolder:
    """Listening sockets on several ports; echoes whatever arrives and keeps
    every connection open until stop()."""

    def __init__(self, nports):
        self.sel = selectors.DefaultSelector()
        self.ports = []
        self.conns = []
        for _ in range(nports):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", 0))
            s.listen(65535)
            s.setblocking(False)
            self.sel.register(s, selectors.EVENT_READ, "listen")
            self.ports.append(s.getsockname()[1])
        self.running = True

    def run(self):
        while self.running:
            for key, _ in self.sel.select(0.2):
                if key.data == "listen":
                    for _ in range(256):
                        try:
                            c, _ = key.fileobj.accept()
                        except BlockingIOError:
                            break
                        c.setblocking(False)
                        self.conns.append(c)
                        self.sel.register(c, selectors.EVENT_READ, "conn")
                else:
                    try:
                        d = key.fileobj.recv(64)
                        if d:
                            key.fileobj.send(d)
                        else:
                            self.sel.unregister(key.fileobj)
                    except OSError:
                        self.sel.unregister(key.fileobj)

    def stop(self):
        self.running = False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=50000)
    ap.add_argument("--tcplb", default=os.path.join(os.path.dirname(__file__), "..", "src", "tcplb"))
    ap.add_argument("--workers", default="2")
    ap.add_argument("--timeout", type=float, default=180.0)
    ap.add_argument("--backend-only", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    n = a.n
    need = 2 * n + 200
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(need, soft), max(need, hard)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        n = min(n, (hard - 200) // 2)
        print("hard RLIMIT_NOFILE is %d and cannot be raised here: holding %d connections"
              % (hard, n))
    if a.backend_only:
        return 0
    rfd, wfd = os.pipe()
    bpid = os.fork()
    if bpid == 0:
        os.close(rfd)
        backend = EchoHolder(nports=max(2, n // 20000 + 1))
        os.write(wfd, (" ".join(map(str, backend.ports)) + "\n").encode())
        backend.run()
        os._exit(0)
    os.close(wfd)
    ports = [int(p) for p in os.read(rfd, 4096).decode().split()]
    os.close(rfd)
    args = [a.tcplb, "-w", a.workers, "-l", "127.0.0.1:0", "--log-target", "stderr"]
    args += ["127.0.0.1:%d" % p for p in ports]
    env = dict(os.environ)
    for k in ("NOTIFY_SOCKET", "JOURNAL_STREAM"):
        env.pop(k, None)
    cfg_note = "quick mode (access log to stderr discarded)"
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    line = proc.stdout.readline().decode().strip()
    host, port = line.rsplit(" ", 1)[1].rsplit(":", 1)
    port = int(port)
    time.sleep(0.2)
    rss0 = rss_kib(proc.pid)
    deadline = time.monotonic() + a.timeout
    sel = selectors.DefaultSelector()
    clients = []
    served = 0
    failed = 0
    pending = {}
    t0 = time.monotonic()
    i = 0
    try:
        while (served + failed < n) and time.monotonic() < deadline:
            # keep up to 2,000 handshakes in flight
            while i < n and len(pending) < 2000:
                s = socket.socket()
                s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
                s.bind(("127.0.0.%d" % (2 + i % 8), 0))
                s.setblocking(False)
                try:
                    s.connect((host, port))
                except BlockingIOError:
                    pass
                pending[s] = "connecting"
                sel.register(s, selectors.EVENT_WRITE, None)
                clients.append(s)
                i += 1
            for key, ev in sel.select(0.5):
                s = key.fileobj
                st = pending.get(s)
                if st == "connecting":
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        failed += 1
                        del pending[s]
                        sel.unregister(s)
                        continue
                    s.send(b"x")
                    pending[s] = "echo"
                    sel.modify(s, selectors.EVENT_READ)
                elif st == "echo":
                    try:
                        d = s.recv(1)
                    except OSError:
                        d = b""
                    del pending[s]
                    sel.unregister(s)
                    if d == b"x":
                        served += 1
                    else:
                        failed += 1
        elapsed = time.monotonic() - t0
        time.sleep(0.5)
        alive = proc.poll() is None
        rss1 = rss_kib(proc.pid) if alive else 0
        print("tcplb %s, workers %s, %s" % (a.tcplb, a.workers, cfg_note))
        print("connections held: %d served (echo ok), %d failed, %d not finished in %.0fs"
              % (served, failed, n - served - failed, elapsed))
        print("tcplb RSS: %d KiB before, %d KiB with %d held: %.2f KiB per connection"
              % (rss0, rss1, served, (rss1 - rss0) / max(1, served)))
        print("tcplb fds: %d" % len(os.listdir("/proc/%d/fd" % proc.pid)) if alive else "tcplb died")
        return 0 if served == n and alive else 1
    finally:
        for s in clients:
            s.close()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        os.kill(bpid, 9)
        os.waitpid(bpid, 0)


if __name__ == "__main__":
    sys.exit(main())
