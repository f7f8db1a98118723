"""A real name server for the DNS tests: dnsmasq (Debian dnsmasq-base) on a
loopback address of its own, answering only from files the test writes --
A/AAAA from a hosts file (re-read on SIGHUP), SRV from srv-host lines in
its configuration file (read at start: change them with restart()).
Nothing is forwarded anywhere (--no-resolv), nothing cached."""

import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import time

from lib import Skip, TestFailure


def dns_query(server, name, qtype, timeout=0.5):
    """One UDP query; returns the rcode and answer count, or None."""
    tid = random.randrange(1 << 16)
    q = struct.pack(">HHHHHH", tid, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    q += struct.pack(">HH", qtype, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(q, server)
        d = s.recv(4096)
    except OSError:
        return None
    finally:
        s.close()
    if len(d) < 12 or struct.unpack(">H", d[:2])[0] != tid:
        return None
    return d[3] & 0xF, struct.unpack(">H", d[6:8])[0]


class Dnsmasq:
    def __init__(self, t, hosts="", srv=()):
        self.bin = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
        if not os.path.exists(self.bin):
            raise Skip("dnsmasq not installed (Debian: dnsmasq-base)")
        self.t = t
        self.addr = "127.%d.%d.%d" % (random.randrange(100, 200),
                                       random.randrange(1, 250), random.randrange(1, 250))
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((self.addr, 0))
        self.port = s.getsockname()[1]
        s.close()
        self.hosts_path = t.path("dns.hosts")
        self.conf_path = t.path("dnsmasq.conf")
        self.set_hosts(hosts, reload=False)
        self.set_srv(srv)
        self.proc = None
        self.n = 0
        self.start()
        t.add_closer(self)

    @property
    def server(self):
        return "%s:%d" % (self.addr, self.port)

    def set_hosts(self, text, reload=True):
        # rewritten in place: dnsmasq re-reads the same path on SIGHUP
        with open(self.hosts_path, "w") as f:
            f.write(text)
        if reload:
            self.proc.send_signal(signal.SIGHUP)
            self.t.log("dnsmasq: hosts now %r" % text)

    def set_srv(self, lines):
        with open(self.conf_path, "w") as f:
            for line in lines:
                f.write("srv-host=%s\n" % line)

    def start(self):
        self.n += 1
        log = open(self.t.path("dnsmasq%d.log" % self.n), "wb")
        cmd = [self.bin, "--no-daemon", "--conf-file=" + self.conf_path,
               "--port=%d" % self.port, "--listen-address=" + self.addr,
               "--bind-interfaces", "--no-resolv", "--no-hosts",
               "--addn-hosts=" + self.hosts_path, "--cache-size=0",
               "--local=/test/",
               "--pid-file", "--log-queries"]
        if os.geteuid() == 0:
            cmd.append("--user=root")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 5
        while dns_query((self.addr, self.port), "ready.test", 1) is None:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise TestFailure("dnsmasq did not start (see %s)" % self.t.path("dnsmasq%d.log" % self.n))
            time.sleep(0.02)

    def restart(self, srv=None):
        if srv is not None:
            self.set_srv(srv)
        self.stop()
        self.start()
        self.t.log("dnsmasq restarted")

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(3)

    def close(self):
        self.stop()
