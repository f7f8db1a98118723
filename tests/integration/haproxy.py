"""Runs HAProxy beside tcplb for the side-by-side checks (issue 22): the
same scenario is played against both, and a test asserts tcplb does at
least as well."""
import os
import shutil
import socket
import subprocess
import time

HEAD = """\
global
    maxconn 2000
defaults
    mode tcp
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout queue 20s
"""


class HAProxy:
    """haproxy -db -f CFG, killed at cleanup (t.add_closer)."""

    def __init__(self, t, body, port):
        exe = shutil.which("haproxy")
        if exe is None:
            raise RuntimeError("haproxy not installed (see .ci/setup)")
        cfg = t.write("haproxy.cfg", HEAD + body)
        self.log_path = t.path("haproxy.out")
        self.log = open(self.log_path, "wb")
        self.p = subprocess.Popen([exe, "-db", "-f", cfg], stdout=self.log,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                return
            except OSError:
                if self.p.poll() is not None:
                    break
                time.sleep(0.05)
        raise RuntimeError("haproxy did not start: %s" % open(self.log_path).read()[-2000:])

    def close(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()
        self.log.close()


def have_haproxy():
    return shutil.which("haproxy") is not None
