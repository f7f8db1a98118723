"""Network namespaces for the tier tests (t_tier_*.py).

A Lab creates uniquely named namespaces (so parallel runs and leftovers of
a killed run never collide), wires them with veth pairs, runs commands in
them, and removes everything at the end: every process still inside a
namespace is killed, then the namespace is deleted (which deletes its
interfaces).  Registered with the test context, so it runs after tcplb and
keepalived have been stopped, and also from the watchdog.

`with lab.inside(NAME):` moves the calling thread (only it: namespaces are
per thread) into a namespace, so sockets made there live in it; they keep
working from any thread afterwards.  Requires root and `ip netns`; anything
else is a Skip (exit 77), never a failure.
"""
import ctypes
import os
import random
import shutil
import signal
import subprocess
import time
from contextlib import contextmanager

from lib import Skip, TestFailure

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "setns: " + os.strerror(e))


def sh(*cmd, check=True, timeout=10, input=None):
    """Run a command; returns its stdout.  On failure, raise with stderr."""
    r = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout,
                       input=input)
    if check and r.returncode != 0:
        raise TestFailure("%s: exit %d: %s" % (" ".join(cmd), r.returncode,
                                                 (r.stderr or r.stdout).strip()))
    return r.stdout


def tell_backend(conn, backend):
    """ThreadBackend handler: say "NAME PEER" (PEER: the address that
    connected, i.e. which tcplb instance), then echo until EOF."""
    peer = conn.getpeername()[0]
    conn.sendall(("%s %s\n" % (backend.name, peer)).encode())
    while True:
        data = conn.recv(65536)
        if not data:
            return
        conn.sendall(data)


class Lab:
    def __init__(self, ctx):
        if os.geteuid() != 0:
            raise Skip("needs root for network namespaces")
        if shutil.which("ip") is None:
            raise Skip("no 'ip' command (package iproute2)")
        self.ctx = ctx
        self.prefix = "tlb%d%04x" % (os.getpid() % 100000, random.getrandbits(16))
        self.names = []
        ctx.add_closer(self)        # closed last: after the processes
        hooks = getattr(ctx, "abort_hooks", None)
        if hooks is not None:
            hooks.append(self.close)
        probe = self.prefix + "probe"
        r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
        if r.returncode != 0:
            raise Skip("cannot create a network namespace: %s" % r.stderr.strip())
        self.names.append(probe)
        r = subprocess.run(["ip", "-n", probe, "link", "add", "p0", "type", "veth",
                            "peer", "name", "p1"], capture_output=True, text=True)
        if r.returncode != 0:
            raise Skip("cannot create a veth pair: %s" % r.stderr.strip())
        self.delete(probe)

    # -- namespaces
    def ns(self, short):
        """Create namespace PREFIX-short with lo up; returns its name."""
        name = "%s-%s" % (self.prefix, short)
        sh("ip", "netns", "add", name)
        self.names.append(name)
        self.ip(name, "link", "set", "lo", "up")
        return name

    def ip(self, ns, *args):
        return sh("ip", "-n", ns, *args)

    def batch(self, ns, lines):
        """Many `ip` commands in one process (ip -batch)."""
        return sh("ip", "-n", ns, "-batch", "-", input="\n".join(lines) + "\n")

    def sysctl(self, ns, key, value):
        sh("ip", "netns", "exec", ns, "sysctl", "-q", "-w", "%s=%s" % (key, value))

    def veth(self, ns1, if1, addr1, ns2, if2, addr2=None):
        """A veth pair between two namespaces, addresses CIDR (or None)."""
        sh("ip", "link", "add", if1, "netns", ns1, "type", "veth",
           "peer", "name", if2, "netns", ns2)
        for ns, ifn, a in ((ns1, if1, addr1), (ns2, if2, addr2)):
            if a:
                self.ip(ns, "addr", "add", a, "dev", ifn)
            self.ip(ns, "link", "set", ifn, "up")

    def exec_argv(self, ns, argv):
        return ["ip", "netns", "exec", ns] + list(argv)

    @contextmanager
    def inside(self, ns):
        """Run the body with this thread in namespace ns."""
        here = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        there = os.open("/run/netns/" + ns, os.O_RDONLY)
        try:
            _setns(there)
            try:
                yield
            finally:
                _setns(here)
        finally:
            os.close(there)
            os.close(here)

    # -- teardown
    def pids(self, ns):
        r = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True,
                           timeout=10)
        return [int(p) for p in r.stdout.split() if p.isdigit()]

    def delete(self, ns):
        for _ in range(3):
            pids = self.pids(ns)
            if not pids:
                break
            for p in pids:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)
        if ns in self.names:
            self.names.remove(ns)

    def close(self):
        for ns in list(reversed(self.names)):
            try:
                self.delete(ns)
            except Exception as e:  # keep removing the others
                print("netns cleanup of %s: %r" % (ns, e))
