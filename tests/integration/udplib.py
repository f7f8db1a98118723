"""UDP helpers for the t_udp_*.py tests: a datagram backend in a thread,
clients, dnsmasq backends and the DNS clients that Debian ships."""
import os
import selectors
import shutil
import socket
import struct
import subprocess
import threading
import time

from lib import Skip, TestFailure, wait_until


SOL_UDP = 17
UDP_SEGMENT = 103       # linux/udp.h: send a GSO train of this segment size


def send_train(sock, segments, addr):
    """Send equal-sized datagrams (the last may be shorter) as one GSO
    train: the receiver's kernel splits it, or hands it over whole to a
    UDP_GRO socket."""
    sock.sendmsg([b"".join(segments)],
                 [(SOL_UDP, UDP_SEGMENT, struct.pack("H", len(segments[0])))], 0, addr)


def free_udp_port(host="127.0.0.1"):
    """A port free a moment ago for both UDP and TCP (name servers and
    iperf3 take both)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(100):
        s = socket.socket(fam, socket.SOCK_DGRAM)
        try:
            s.bind((host, 0))
            port = s.getsockname()[1]
            c = socket.socket(fam, socket.SOCK_STREAM)
            try:
                c.bind((host, port))
                return port
            except OSError:
                continue
            finally:
                c.close()
        finally:
            s.close()
    raise RuntimeError("no port free for UDP and TCP")


class UdpBackend:
    """A datagram server on loopback, in one thread.

    mode: 'identify'  reply NAME + b'|' + payload (one reply per datagram)
          'echo'      reply the payload as it is
          'silent'    read and answer nothing
          'multi'     reply `count` datagrams per request
          'slow'      reply as identify, `delay` seconds later
    Counts datagrams per client address (peers) and the biggest seen."""

    def __init__(self, name="udp", mode="identify", host="127.0.0.1", port=0,
                 count=3, delay=0.5):
        self.name = name
        self.mode = mode
        self.count = count
        self.delay = delay
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind((host, port))
        self.addr = self.sock.getsockname()[:2]
        self.port = self.addr[1]
        self.hostport = ("[%s]:%d" if fam == socket.AF_INET6 else "%s:%d") % (host, self.port)
        self.lock = threading.Lock()
        self.received = 0
        self.peers = {}
        self.biggest = 0
        self.payloads = []
        self.keep_payloads = False
        self._stop = False
        self.sock.settimeout(0.1)
        self.thread = threading.Thread(target=self._loop, daemon=True,
                                       name="udp-" + name)
        self.thread.start()

    def _loop(self):
        while not self._stop:
            try:
                data, peer = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                if self._stop:
                    return
                continue
            with self.lock:
                self.received += 1
                self.peers[peer] = self.peers.get(peer, 0) + 1
                self.biggest = max(self.biggest, len(data))
                if self.keep_payloads:
                    self.payloads.append(data)
            try:
                if self.mode == "identify":
                    self.sock.sendto(self.name.encode() + b"|" + data[:64], peer)
                elif self.mode == "echo":
                    self.sock.sendto(data, peer)
                elif self.mode == "slow":
                    # answer after `delay` seconds (a query in flight)
                    threading.Timer(self.delay, self.sock.sendto,
                                    (self.name.encode() + b"|" + data[:64], peer)).start()
                elif self.mode == "multi":
                    for i in range(self.count):
                        self.sock.sendto(b"%s|%d" % (self.name.encode(), i), peer)
                elif self.mode == "train":
                    # `count` datagrams of 500 bytes in one GSO train
                    seg = [(b"%s|%d|" % (self.name.encode(), i)).ljust(500, b".")
                           for i in range(self.count)]
                    self.sock.sendmsg([b"".join(seg)],
                                      [(SOL_UDP, UDP_SEGMENT, struct.pack("H", 500))], 0, peer)
            except OSError:
                pass

    def stats(self):
        with self.lock:
            return {"received": self.received, "peers": dict(self.peers),
                    "biggest": self.biggest}

    def close(self):
        self._stop = True
        self.thread.join(2)
        self.sock.close()


class UdpClient:
    """One client socket (one flow through tcplb)."""

    def __init__(self, target, source=None, timeout=2.0):
        fam = socket.AF_INET6 if ":" in target[0] else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        if source is not None:
            self.sock.bind((source, 0))
        self.target = target
        self.sock.settimeout(timeout)

    def ask(self, data=b"q"):
        """Send one datagram, return (reply, reply source) or (None, None)."""
        self.sock.sendto(data, self.target)
        try:
            d, frm = self.sock.recvfrom(65535)
            return d, frm
        except socket.timeout:
            return None, None

    def send(self, data):
        self.sock.sendto(data, self.target)

    def recv(self, timeout=None):
        if timeout is not None:
            self.sock.settimeout(timeout)
        try:
            return self.sock.recvfrom(65535)
        except socket.timeout:
            return None, None

    def close(self):
        self.sock.close()


def need(*progs):
    for p in progs:
        if shutil.which(p) is None:
            raise Skip("%s is not installed (.ci/setup installs it)" % p)


class Dnsmasq:
    """dnsmasq answering NAME with ADDRESS on 127.0.0.1:port (UDP and TCP)."""

    def __init__(self, t, answers, port=None, log_queries=False):
        need("dnsmasq")
        self.port = port or free_udp_port()
        args = ["dnsmasq", "--no-daemon", "--port=%d" % self.port,
                "--listen-address=127.0.0.1", "--bind-interfaces",
                "--no-resolv", "--no-hosts", "-C", "/dev/null",
                "--pid-file=", "--cache-size=1000"]
        for name, addr in answers.items():
            args.append("--address=/%s/%s" % (name, addr))
        if log_queries:
            args.append("--log-queries")
        self.log = open(os.path.join(t.dir, "dnsmasq-%d.log" % self.port), "wb")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.hostport = "127.0.0.1:%d" % self.port
        # answering?
        ok = wait_until(lambda: self._probe(), 5)
        if not ok:
            raise TestFailure("dnsmasq on port %d does not answer" % self.port)
        t.add_closer(self)

    def _probe(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(0.2)
        try:
            s.sendto(dns_query("probe.invalid", 1), ("127.0.0.1", self.port))
            s.recvfrom(512)
            return True
        except OSError:
            return False
        finally:
            s.close()

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


def dns_query(name, qid):
    """A minimal DNS query for NAME type A."""
    q = qid.to_bytes(2, "big") + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\x00\x00\x01\x00\x01"


def dig(addr, name, tool="dig", timeout=2):
    """Ask tcplb at addr for NAME with dig or kdig; the answers' list."""
    need(tool)
    host, port = addr
    if tool == "dig":
        cmd = ["dig", "+short", "+tries=1", "+time=%d" % timeout, "-p", str(port),
               "@" + host, name, "A"]
    else:
        cmd = ["kdig", "+short", "+retry=0", "+timeout=%d" % timeout, "-p", str(port),
               "@" + host, name, "A"]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout + 5)
    return [ln for ln in r.stdout.decode().split("\n") if ln.strip()]
