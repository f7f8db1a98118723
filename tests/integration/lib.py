"""Shared helpers for tcplb's integration tests.

Every test is one file, t_*.py, run by automake's test driver as
`python3 tests/integration/t_x.py` with TCPLB_BIN (the binary under test) and
TCPLB_SRCDIR in the environment.  Exit 0 = pass, 77 = skip, anything else =
fail.  Python 3.11 standard library only.

A test looks like:

    from lib import *

    def test(t):
        b = t.identify_backend("A")
        lb = t.start_quick([b.hostport])
        t.eq(t.identify(lb.addr), "A")

    run(test)

Rules kept everywhere in here: only loopback addresses, every wait bounded in
time (socket timeouts, deadlines), every subprocess killed at the end, and a
global watchdog that kills the test (and prints the logs) if it runs too long.
"""

import errno
import hashlib
import os
import re
import resource
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import weakref

__all__ = [
    "run", "Skip", "TestFailure", "Ctx", "Tcplb", "Backend", "ThreadBackend",
    "NotifyReceiver", "free_port", "free_port_all", "refused_port", "wait_until", "recv_exact",
    "recv_until_eof", "recv_line", "all_stopped", "recv_each", "connect", "rst_close", "fmt_addr",
    "parse_hostport", "listen_inodes", "have_ipv6", "raise_nofile",
    "SKIP", "hashlib", "os", "re", "signal", "socket", "struct", "sys",
    "threading", "time", "errno", "selectors", "subprocess",
    "admin_send", "admin_json", "http_get",
]

SKIP = 77
DEFAULT_TIMEOUT = 5.0


def _is_zombie(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


class Skip(Exception):
    pass


class TestFailure(AssertionError):
    pass


# ---------------------------------------------------------------------------
# small helpers

def fmt_addr(host, port):
    if ":" in host:
        return "[%s]:%d" % (host, port)
    return "%s:%d" % (host, port)


def parse_hostport(text):
    m = re.fullmatch(r"\[([0-9a-fA-F:.%a-zA-Z]+)\]:(\d+)", text)
    if m:
        return m.group(1), int(m.group(2))
    m = re.fullmatch(r"([^:\s]+):(\d+)", text)
    if m:
        return m.group(1), int(m.group(2))
    raise ValueError("not HOST:PORT: %r" % text)


def wait_until(pred, timeout=DEFAULT_TIMEOUT, interval=0.01):
    """Poll pred() until it returns a true value or timeout passes.
    Returns the value (falsy on timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def have_ipv6():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        try:
            s.bind(("::1", 0))
            s.listen(1)
            c = socket.create_connection(("::1", s.getsockname()[1]), timeout=1)
            c.close()
        finally:
            s.close()
        return True
    except OSError:
        return False


def free_port(host="127.0.0.1"):
    """A port that was free a moment ago (bound then closed)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    try:
        s.bind((host, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def free_port_all():
    """A port that was free a moment ago on every address, IPv4 and IPv6
    (for '*:PORT' binds): the kernel's pick on 0.0.0.0, checked on [::]."""
    for _ in range(50):
        port = free_port("0.0.0.0")
        if not have_ipv6():
            return port
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        try:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind(("::", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError("no port free on all addresses")


def refused_port(host="127.0.0.1"):
    """A port on which nothing listens: connecting is refused."""
    return free_port(host)


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n if hard == resource.RLIM_INFINITY else min(n, hard)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# Sockets whose connection tcplb accepted and reset before connect()
# returned (see connect()).
_reset_at_connect = weakref.WeakSet()


def connect(addr, timeout=2.0, source=None):
    """Blocking TCP connect with a timeout; the returned socket keeps a
    timeout so no later recv can hang forever.  tcplb refuses with a reset
    right after accepting, which on loopback can land before connect()
    returns: the connection was made, so the socket is returned all the
    same -- it reads EOF, and recv_until_eof() says 'reset'."""
    host, port = addr
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        if source is not None:
            s.bind((source, 0))
        s.connect((host, port))
    except ConnectionResetError:
        _reset_at_connect.add(s)
    except BaseException:
        s.close()
        raise
    return s


def rst_close(s):
    """Close with SO_LINGER 0: the peer gets a RST."""
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    s.close()


def recv_exact(s, n, timeout=DEFAULT_TIMEOUT):
    """Read exactly n bytes; raise TestFailure on EOF or timeout."""
    deadline = time.monotonic() + timeout
    buf = bytearray()
    while len(buf) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TestFailure("timeout after %d of %d bytes" % (len(buf), n))
        s.settimeout(left)
        try:
            chunk = s.recv(min(n - len(buf), 1 << 20))
        except socket.timeout:
            raise TestFailure("timeout after %d of %d bytes" % (len(buf), n))
        if not chunk:
            raise TestFailure("EOF after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return bytes(buf)


def recv_each(socks, want, timeout=DEFAULT_TIMEOUT):
    """Read every socket at once until it has len(want) bytes (or EOF, or
    a reset), closing each as soon as it is done; returns how many got
    exactly want.  For clients a server takes one at a time in an order
    the test does not know (a queue fed by several workers): each must be
    closed once served for the next to get its turn."""
    got = {s: b"" for s in socks}
    sel = selectors.DefaultSelector()
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    ok = 0
    deadline = time.monotonic() + timeout
    while sel.get_map() and time.monotonic() < deadline:
        for key, _ in sel.select(0.2):
            s = key.fileobj
            try:
                d = s.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                d = b""
            got[s] += d
            if not d or len(got[s]) >= len(want):
                ok += got[s] == want
                sel.unregister(s)
                s.close()
    for key in list(sel.get_map().values()):
        key.fileobj.close()
    sel.close()
    return ok


def recv_until_eof(s, timeout=DEFAULT_TIMEOUT, limit=1 << 30):
    """Read until EOF.  Returns (data, how) with how in 'eof', 'reset',
    'timeout'."""
    deadline = time.monotonic() + timeout
    buf = bytearray()
    while len(buf) < limit:
        left = deadline - time.monotonic()
        if left <= 0:
            return bytes(buf), "timeout"
        s.settimeout(left)
        try:
            chunk = s.recv(1 << 20)
        except socket.timeout:
            return bytes(buf), "timeout"
        except ConnectionResetError:
            return bytes(buf), "reset"
        if not chunk:
            if not buf and s in _reset_at_connect:
                return b"", "reset"
            return bytes(buf), "eof"
        buf += chunk
    return bytes(buf), "limit"


def admin_send(path, line, timeout=DEFAULT_TIMEOUT):
    """Send one command line to tcplb's admin socket; return the whole
    answer (str) once tcplb closes the connection."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        s.sendall(line.encode() + b"\n")
        data, how = recv_until_eof(s, timeout)
        if how != "eof":
            raise TestFailure("admin %r: answer ended by %s: %r" % (line, how, data[:200]))
        return data.decode("utf-8", "replace")
    finally:
        s.close()


def admin_json(path, line, timeout=DEFAULT_TIMEOUT):
    """admin_send(line + ' json'), parsed."""
    import json
    return json.loads(admin_send(path, line + " json", timeout))


def http_get(addr, target, method="GET", timeout=DEFAULT_TIMEOUT, raw=None):
    """One HTTP/1.0 request; returns (status, headers dict, body bytes)."""
    s = connect(addr, timeout=timeout)
    try:
        s.sendall(raw if raw is not None else
                  ("%s %s HTTP/1.0\r\nHost: x\r\n\r\n" % (method, target)).encode())
        data, how = recv_until_eof(s, timeout)
    finally:
        s.close()
    if how != "eof":
        raise TestFailure("GET %s: answer ended by %s" % (target, how))
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, body


def all_stopped(pid):
    """Every thread of pid is stopped (state T): SIGSTOP has taken effect."""
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                if f.read().rsplit(")", 1)[1].split()[0] != "T":
                    return False
    except OSError:
        return False
    return True


def recv_line(s, timeout=DEFAULT_TIMEOUT, limit=4096):
    """Read one '\\n'-terminated line (byte by byte, so nothing after it is
    consumed).  Returns the line without '\\n', or None on EOF/reset/timeout."""
    deadline = time.monotonic() + timeout
    buf = bytearray()
    while len(buf) < limit:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        s.settimeout(left)
        try:
            c = s.recv(1)
        except (socket.timeout, OSError):
            return None
        if not c:
            return None
        if c == b"\n":
            return buf.decode("utf-8", "replace")
        buf += c
    return None


def listen_inodes(port):
    """Inodes of the sockets in LISTEN state on this TCP port (v4 and v6)."""
    out = set()
    # local_address rem_address st ... uid timeout inode
    rx = re.compile(rb"^\s*\d+: [0-9A-F]+:%04X [0-9A-F]+:0000 0A (?:\S+\s+){5}(\d+)"
                    % port, re.M)
    for f in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(f, "rb") as fh:
                data = fh.read()
        except OSError:
            continue
        for m in rx.finditer(data):
            out.add(int(m.group(1)))
    return out


# ---------------------------------------------------------------------------
# backends

class _Listening:
    """What the test backends share: a listening socket and its address."""

    def _listen(self, host, port, backlog):
        self.host = host
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.lsock = socket.socket(fam, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((host, port))
        self.lsock.listen(backlog)
        self.port = self.lsock.getsockname()[1]

    @property
    def addr(self):
        return (self.host, self.port)

    @property
    def hostport(self):
        return fmt_addr(self.host, self.port)


class Backend(_Listening):
    """A selector-driven TCP server on loopback, in one thread.

    mode: 'echo'      echo everything back
          'identify'  send NAME + '\\n' on connect, then echo
          'sink'      read and discard
    Tracks accepted/active/max_active connections and bytes received."""

    def __init__(self, name="backend", mode="echo", host="127.0.0.1", port=0,
                 backlog=1024):
        self.name = name
        self.mode = mode
        self.host = host
        self.lock = threading.Lock()
        self.accepted = 0
        self.active = 0
        self.max_active = 0
        self.bytes_in = 0
        self.closed_events = []  # (time, how)
        self._stop = False
        self._conns = {}
        self._listen(host, port, backlog)
        self.lsock.setblocking(False)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.lsock, selectors.EVENT_READ, None)
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self.sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        self.thread = threading.Thread(target=self._loop, daemon=True,
                                       name="backend-" + name)
        self.thread.start()

    def _loop(self):
        try:
            while not self._stop:
                for key, ev in self.sel.select(timeout=0.2):
                    if self._stop:
                        break
                    if key.data == "wake":
                        try:
                            self._wake_r.recv(64)
                        except OSError:
                            pass
                        continue
                    if key.data is None:
                        self._accept()
                    else:
                        self._serve(key.fileobj, key.data, ev)
        except Exception:  # pragma: no cover - reported by the test
            traceback.print_exc()
        finally:
            for c in list(self._conns):
                try:
                    c.close()
                except OSError:
                    pass
            self._conns.clear()

    def _accept(self):
        for _ in range(64):
            try:
                c, _peer = self.lsock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            c.setblocking(False)
            st = {"out": bytearray(), "eof": False}
            if self.mode == "identify":
                st["out"] += self.name.encode() + b"\n"
            with self.lock:
                self.accepted += 1
                self.active += 1
                self.max_active = max(self.max_active, self.active)
            self._conns[c] = st
            self.sel.register(c, selectors.EVENT_READ |
                              (selectors.EVENT_WRITE if st["out"] else 0), st)

    def _close_conn(self, c, how):
        try:
            self.sel.unregister(c)
        except (KeyError, ValueError):
            pass
        self._conns.pop(c, None)
        try:
            c.close()
        except OSError:
            pass
        with self.lock:
            self.active -= 1
            self.closed_events.append((time.monotonic(), how))

    def _serve(self, c, st, ev):
        if ev & selectors.EVENT_READ and not st["eof"]:
            try:
                data = c.recv(1 << 18)
            except (BlockingIOError, InterruptedError):
                data = None
            except OSError:
                self._close_conn(c, "reset")
                return
            if data is not None:
                if not data:
                    st["eof"] = True
                else:
                    with self.lock:
                        self.bytes_in += len(data)
                    if self.mode in ("echo", "identify"):
                        st["out"] += data
        if st["out"]:
            try:
                n = c.send(st["out"])
                del st["out"][:n]
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                self._close_conn(c, "reset")
                return
        if st["eof"] and not st["out"]:
            self._close_conn(c, "eof")
            return
        mask = 0
        if not st["eof"] and len(st["out"]) < (4 << 20):
            mask |= selectors.EVENT_READ
        if st["out"]:
            mask |= selectors.EVENT_WRITE
        if mask == 0:
            mask = selectors.EVENT_WRITE
        try:
            self.sel.modify(c, mask, st)
        except (KeyError, ValueError):
            pass

    def stats(self):
        with self.lock:
            return dict(accepted=self.accepted, active=self.active,
                        max_active=self.max_active, bytes_in=self.bytes_in)

    def close(self):
        """Stop: close the listening socket and every connection.  After
        this, connecting to the port is refused."""
        if self._stop:
            return
        self._stop = True
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        self.thread.join(3)
        try:
            self.sel.unregister(self.lsock)
        except (KeyError, ValueError):
            pass
        self.lsock.close()
        self._wake_r.close()
        self._wake_w.close()
        self.sel.close()


class ThreadBackend(_Listening):
    """A TCP server whose every accepted connection runs handler(conn, self)
    in its own thread (blocking sockets with a timeout).  For scenarios that
    need a script: half-close, resets, health-check protocols, ..."""

    def __init__(self, handler, name="tbackend", host="127.0.0.1", port=0,
                 conn_timeout=10.0):
        self.handler = handler
        self.name = name
        self.host = host
        self.conn_timeout = conn_timeout
        self.lock = threading.Lock()
        self.accepted = 0
        self.active = 0
        self.max_active = 0
        self.results = []        # handlers may append here
        self.errors = []
        self._stop = False
        self._conns = set()
        self._listen(host, port, 1024)
        self.lsock.settimeout(0.2)
        self.thread = threading.Thread(target=self._loop, daemon=True,
                                       name="tbackend-" + name)
        self.thread.start()

    def _loop(self):
        while not self._stop:
            try:
                c, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            c.settimeout(self.conn_timeout)
            with self.lock:
                self.accepted += 1
                self.active += 1
                self.max_active = max(self.max_active, self.active)
                self._conns.add(c)
            threading.Thread(target=self._run, args=(c,), daemon=True).start()

    def _run(self, c):
        try:
            self.handler(c, self)
        except Exception as e:
            with self.lock:
                self.errors.append(repr(e))
        finally:
            with self.lock:
                self.active -= 1
                self._conns.discard(c)
            try:
                c.close()
            except OSError:
                pass

    def record(self, item):
        with self.lock:
            self.results.append(item)

    def close(self):
        if self._stop:
            return
        self._stop = True
        self.thread.join(3)
        self.lsock.close()
        with self.lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class HangingBackend:
    """A listening socket that never accepts and whose accept queue is full:
    a connect to it gets no answer (the SYN is dropped)."""

    def __init__(self, host="127.0.0.1"):
        self.host = host
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.bind((host, 0))
        self.lsock.listen(0)
        self.port = self.lsock.getsockname()[1]
        self.fillers = []
        for _ in range(16):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(0.3)
            try:
                s.connect((host, self.port))
                self.fillers.append(s)
            except (socket.timeout, OSError):
                s.close()
                break
        # verify: a new connect must not complete
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect((host, self.port))
        except BlockingIOError:
            pass
        sel = selectors.DefaultSelector()
        sel.register(s, selectors.EVENT_WRITE)
        ready = sel.select(0.5)
        sel.close()
        s.close()
        if ready:
            raise Skip("cannot build a never-accepting backend on this kernel")

    @property
    def hostport(self):
        return fmt_addr(self.host, self.port)

    def close(self):
        for s in self.fillers:
            s.close()
        self.lsock.close()


# ---------------------------------------------------------------------------
# sd_notify receiver

class NotifyReceiver:
    """AF_UNIX/SOCK_DGRAM socket collecting sd_notify datagrams."""

    def __init__(self, path, on_message=None):
        self.path = path
        self.on_message = on_message
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.msgs = []  # (monotonic time, text)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self._stop = False
        self.thread = threading.Thread(target=self._loop, daemon=True,
                                       name="notify")
        self.thread.start()

    def _loop(self):
        while not self._stop:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            text = data.decode("utf-8", "replace")
            extra = None
            if self.on_message:
                try:
                    extra = self.on_message(text)
                except Exception as e:  # recorded, not fatal here
                    extra = "on_message error: %r" % e
            with self.cond:
                self.msgs.append((time.monotonic(), text, extra))
                self.cond.notify_all()

    def count(self):
        with self.lock:
            return len(self.msgs)

    def messages(self, start=0):
        with self.lock:
            return [m[1] for m in self.msgs[start:]]

    def entries(self, start=0):
        with self.lock:
            return list(self.msgs[start:])

    def wait_for(self, field, start=0, timeout=DEFAULT_TIMEOUT):
        """Wait for a datagram (index >= start) having a line == field (e.g.
        'READY=1') or starting with field when field ends in '='.  Returns
        (index, text) or None."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i in range(start, len(self.msgs)):
                    for ln in self.msgs[i][1].split("\n"):
                        if ln == field or (field.endswith("=") and ln.startswith(field)):
                            return i, self.msgs[i][1]
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(min(left, 0.2))

    def close(self):
        self._stop = True
        self.thread.join(2)
        self.sock.close()


# ---------------------------------------------------------------------------
# the process under test

class Tcplb:
    def __init__(self, ctx, args, env=None, name="tcplb", argv0=None, nofile=None):
        self.ctx = ctx
        self.name = name
        self.args = list(args)
        self.out_path = os.path.join(ctx.dir, name + ".stdout")
        self.err_path = os.path.join(ctx.dir, name + ".stderr")
        self._out = open(self.out_path, "wb")
        self._err = open(self.err_path, "wb")
        full_env = dict(os.environ)
        for k in ("NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES",
                  "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM"):
            full_env.pop(k, None)
        if env:
            for k, v in env.items():
                if v is None:
                    full_env.pop(k, None)
                else:
                    full_env[k] = v
        # TCPLB_TEST_WORKERS pins the worker count of every tcplb a test
        # starts (unless the test chose one itself): CI runs the suite once
        # with the default (one per CPU) and once with a single worker.
        # (Not through a wrapper such as systemd-socket-activate, whose
        # own options come first.)
        forced = os.environ.get("TCPLB_TEST_WORKERS")
        if forced and argv0 is None and self.args[:1] != ["ctl"] and not any(a in ("-w", "--workers") or a.startswith("--workers=")
                              for a in self.args):
            self.args = ["-w", forced] + self.args
        cmd = (argv0 or [ctx.bin]) + self.args
        self.cmd = cmd
        self.started = time.monotonic()
        preexec = None
        if nofile is not None:
            def preexec():
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=self._out, stderr=self._err,
                                     env=full_env, cwd=ctx.dir, preexec_fn=preexec)
        self.pid = self.proc.pid
        self.addr = None
        ctx.procs.append(self)

    # -- output
    def stdout(self):
        with open(self.out_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stderr(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_listening(self, timeout=DEFAULT_TIMEOUT):
        """Parse 'listening on IP:PORT' from stdout."""
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(r"^listening on (\S+)\s*$", self.stdout(), re.M)
            if m:
                self.addr = parse_hostport(m.group(1))
                return self.addr
            if self.proc.poll() is not None:
                raise TestFailure("%s exited with %s before printing "
                                  "'listening on'" % (self.name, self.proc.returncode))
            if time.monotonic() >= deadline:
                raise TestFailure("%s printed no 'listening on IP:PORT' within %.1fs"
                                  % (self.name, timeout))
            time.sleep(0.01)

    def wait_stderr(self, pattern, timeout=DEFAULT_TIMEOUT, start=0, flags=re.M):
        """Wait for a regex in stderr (searched from character offset start).
        Returns the match or None."""
        rx = re.compile(pattern, flags)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.stderr(), start)
            if m:
                return m
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.02)

    # -- process
    def alive(self):
        return self.proc.poll() is None

    def signal(self, sig):
        if self.proc.poll() is None:
            os.kill(self.pid, sig)

    def wait(self, timeout=DEFAULT_TIMEOUT):
        """Wait for exit; returns the exit code or None on timeout."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout=5.0):
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            if self.wait(timeout) is None:
                self.kill()
        self._close_files()
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.wait(5)

    def _close_files(self):
        for f in (self._out, self._err):
            try:
                f.close()
            except OSError:
                pass

    def fd_count(self):
        return len(os.listdir("/proc/%d/fd" % self.pid))

    def fds(self):
        out = {}
        d = "/proc/%d/fd" % self.pid
        for n in os.listdir(d):
            try:
                out[int(n)] = os.readlink(os.path.join(d, n))
            except OSError:
                pass
        return out

    def rss_kb(self):
        with open("/proc/%d/status" % self.pid) as f:
            for ln in f:
                if ln.startswith("VmRSS:"):
                    return int(ln.split()[1])
        return 0

    def threads(self):
        return len(os.listdir("/proc/%d/task" % self.pid))

    def sanitizer(self):
        """'asan' or 'tsan' when the binary runs under that sanitizer
        (its runtime is mapped), else None.  RSS means little there: ASan
        quarantines freed memory, TSan shadows all that was touched."""
        with open("/proc/%d/maps" % self.pid) as f:
            m = re.search(r"lib([at])san", f.read())
        return m.group(1) + "san" if m else None


# ---------------------------------------------------------------------------
# per-test context

class Ctx:
    def __init__(self, name):
        self.name = name
        self.bin = os.environ.get("TCPLB_BIN")
        self.srcdir = os.environ.get("TCPLB_SRCDIR") or os.path.abspath(
            os.path.join(os.path.dirname(__file__), "..", ".."))
        if not self.bin:
            cand = os.path.join(self.srcdir, "src", "tcplb")
            self.bin = cand
        if not os.access(self.bin, os.X_OK):
            raise TestFailure("TCPLB_BIN %r is not an executable" % self.bin)
        self.dir = tempfile.mkdtemp(prefix="tcplb-%s-" % name)
        self.procs = []
        self.closers = []
        self.abort_hooks = []    # run by the watchdog before it exits
        self.notify = None
        self.t0 = time.monotonic()

    # -- logging / assertions
    def log(self, *a):
        print("[%6.3f] %s" % (time.monotonic() - self.t0, " ".join(str(x) for x in a)),
              flush=True)

    def check(self, cond, msg="check failed"):
        if not cond:
            raise TestFailure(msg)

    def eq(self, got, want, msg=""):
        if got != want:
            raise TestFailure("%sexpected %r, got %r" % (msg + ": " if msg else "",
                                                         want, got))

    def fail(self, msg):
        raise TestFailure(msg)

    # -- files
    def path(self, name):
        return os.path.join(self.dir, name)

    def write(self, name, text):
        """Write atomically (write + rename) so tcplb never reads half a file."""
        p = self.path(name)
        tmp = p + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, p)
        return p

    def line_of(self, text, needle, nth=1):
        """1-based line number of the nth line containing needle."""
        k = 0
        for i, ln in enumerate(text.split("\n"), 1):
            if needle in ln:
                k += 1
                if k == nth:
                    return i
        raise TestFailure("test bug: %r not in config text" % needle)

    # -- resources
    def add_closer(self, obj):
        self.closers.append(obj)
        return obj

    def backend(self, name="backend", mode="echo", **kw):
        return self.add_closer(Backend(name=name, mode=mode, **kw))

    def identify_backend(self, name, **kw):
        return self.backend(name=name, mode="identify", **kw)

    def thread_backend(self, handler, name="tbackend", **kw):
        return self.add_closer(ThreadBackend(handler, name=name, **kw))

    def hanging_backend(self):
        return self.add_closer(HangingBackend())

    def notify_receiver(self, on_message=None):
        self._nnotify = getattr(self, "_nnotify", 0) + 1
        n = NotifyReceiver(self.path("notify%d.sock" % self._nnotify), on_message)
        self.add_closer(n)
        self.notify = n
        return n

    # -- tcplb
    def run_tcplb(self, args, timeout=10.0, env=None):
        """Run tcplb to completion.  Returns (rc, stdout, stderr)."""
        p = Tcplb(self, args, env=env, name="run%d" % len(self.procs))
        rc = p.wait(timeout)
        if rc is None:
            p.kill()
            p._close_files()
            raise TestFailure("tcplb %s did not exit within %.0fs" % (args, timeout))
        p._close_files()
        return rc, p.stdout(), p.stderr()

    def start(self, args, env=None, name=None, argv0=None, nofile=None):
        """Start tcplb (or argv0 + args, e.g. a wrapper that execs tcplb).
        nofile: RLIMIT_NOFILE (soft and hard) for the process."""
        return Tcplb(self, args, env=env, name=name or "tcplb%d" % len(self.procs),
                     argv0=argv0, nofile=nofile)

    def start_quick(self, backends, extra=(), env=None, timeout=DEFAULT_TIMEOUT, nofile=None):
        """Quick mode; waits for 'listening on'."""
        p = self.start(list(extra) + list(backends), env=env, nofile=nofile)
        p.wait_listening(timeout)
        self.log("tcplb pid %d listening on %s" % (p.pid, fmt_addr(*p.addr)))
        return p

    def start_config(self, text, extra=(), env=None, ready_timeout=DEFAULT_TIMEOUT,
                     cfg_name="tcplb.yaml", log_stderr=True):
        """Config mode with NOTIFY_SOCKET; waits for READY=1."""
        cfg = self.write(cfg_name, text)
        if self.notify is None:
            self.notify_receiver()
        e = {"NOTIFY_SOCKET": self.notify.path}
        if env:
            e.update(env)
        args = ["-c", cfg]
        if log_stderr:
            args += ["--log-target", "stderr"]
        first = self.notify.count()
        p = self.start(args + list(extra), env=e)
        p.cfg = cfg
        r = self.notify.wait_for("READY=1", start=first, timeout=ready_timeout)
        if r is None:
            if not p.alive():
                raise TestFailure("tcplb exited with %s during startup" % p.proc.returncode)
            raise TestFailure("no READY=1 within %.1fs" % ready_timeout)
        self.log("tcplb pid %d ready" % p.pid)
        return p

    def ctl(self, sock, *words, timeout=10.0):
        """Run `tcplb ctl -s sock WORDS...`.  Returns (rc, stdout, stderr)."""
        return self.run_tcplb(["ctl", "-s", sock] + list(words), timeout=timeout)

    def reload(self, p, text=None, timeout=DEFAULT_TIMEOUT):
        """Optionally rewrite p's config, SIGHUP, and wait for RELOADING=1
        then READY=1.  Returns the datagrams received in between (inclusive)."""
        if text is not None:
            self.write(os.path.basename(p.cfg), text)
        start = self.notify.count()
        p.signal(signal.SIGHUP)
        r1 = self.notify.wait_for("RELOADING=1", start=start, timeout=timeout)
        if r1 is None:
            raise TestFailure("no RELOADING=1 after SIGHUP within %.1fs" % timeout)
        r2 = self.notify.wait_for("READY=1", start=r1[0], timeout=timeout)
        if r2 is None:
            raise TestFailure("no READY=1 after RELOADING=1 within %.1fs" % timeout)
        return self.notify.messages(start)[: r2[0] - start + 1]

    # -- clients
    def identify(self, addr, timeout=2.0, source=None):
        """Connect through tcplb to an identify backend; return its name, or
        None when tcplb closed the connection instead."""
        try:
            s = connect(addr, timeout=timeout, source=source)
        except OSError:
            return None
        try:
            return recv_line(s, timeout)
        finally:
            s.close()

    def hold(self, addr, timeout=2.0, source=None):
        """Connect, read the identify line and keep the socket open.
        Returns (socket, name); name None when not served."""
        s = connect(addr, timeout=timeout, source=source)
        self.add_closer(s)
        return s, recv_line(s, timeout)

    def echo_ok(self, s, payload=b"ping", timeout=2.0):
        s.sendall(payload)
        return recv_exact(s, len(payload), timeout) == payload

    def cleanup(self):
        # client sockets first (so no drain waits for them), then tcplb,
        # then the backends
        for c in self.closers:
            if isinstance(c, socket.socket):
                try:
                    c.close()
                except OSError:
                    pass
        for p in self.procs:
            try:
                p.stop(3)
            except Exception:
                traceback.print_exc()
        for c in reversed(self.closers):
            try:
                c.close()
            except Exception:
                pass
        self._stop_strays()

    def _stop_strays(self):
        """Stop what still runs from this test's directory: the successor
        of a binary upgrade (re-parented to init, so not in self.procs)
        would otherwise outlive the test, holding its ports."""
        key = self.dir.encode()
        strays = []
        for d in os.listdir("/proc"):
            if not d.isdigit() or int(d) == os.getpid():
                continue
            try:
                with open("/proc/%s/cmdline" % d, "rb") as f:
                    if key in f.read():
                        strays.append(int(d))
            except OSError:
                pass
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in strays:
                try:
                    os.kill(pid, sig)
                except OSError:
                    pass
            deadline = time.monotonic() + 3
            while strays and time.monotonic() < deadline:
                strays = [pid for pid in strays if os.path.exists("/proc/%d" % pid)
                          and not _is_zombie(pid)]
                time.sleep(0.05)
            if not strays:
                return

    def dump(self):
        for p in self.procs:
            rc = p.proc.returncode
            print("----- %s: %s (pid %d, exit %s)" % (p.name, " ".join(p.cmd), p.pid, rc))
            for label, path in (("stdout", p.out_path), ("stderr", p.err_path)):
                try:
                    with open(path, "rb") as f:
                        data = f.read()
                except OSError:
                    continue
                text = data.decode("utf-8", "replace")
                if len(text) > 20000:
                    text = "...(%d chars cut)...\n" % (len(text) - 20000) + text[-20000:]
                print("----- %s %s:\n%s" % (p.name, label, text.rstrip()))
        if self.notify is not None:
            print("----- sd_notify datagrams:")
            for t, m, extra in self.notify.entries():
                print("  [%6.3f] %r%s" % (t - self.t0, m, "" if extra is None else " -> %r" % (extra,)))


def run(test, timeout=60.0):
    """Run test(ctx) with a watchdog; exit 0 / 77 / 1."""
    name = os.path.splitext(os.path.basename(sys.argv[0]))[0]
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    try:
        ctx = Ctx(name)
    except Skip as e:
        print("SKIP:", e)
        sys.exit(SKIP)
    except TestFailure as e:
        print("FAIL:", e)
        sys.exit(1)

    def watchdog():
        print("FAIL: %s: watchdog: still running after %.0fs" % (name, timeout), flush=True)
        traceback.print_stack()
        try:
            ctx.dump()
        finally:
            for p in ctx.procs:
                try:
                    p.kill()
                except Exception:
                    pass
            # what must not outlive the test (network namespaces)
            for h in ctx.abort_hooks:
                try:
                    h()
                except Exception:
                    pass
            print("temporary directory kept:", ctx.dir, flush=True)
            sys.stdout.flush()
            os._exit(1)

    wd = threading.Timer(timeout, watchdog)
    wd.daemon = True
    wd.start()
    code = 0
    try:
        test(ctx)
    except Skip as e:
        print("SKIP:", e)
        code = SKIP
    except Exception:
        print("FAIL: %s" % name)
        traceback.print_exc(file=sys.stdout)
        code = 1
    wd.cancel()
    try:
        ctx.cleanup()
    except Exception:
        traceback.print_exc(file=sys.stdout)
    # a sanitizer build reports on stderr (leaks only at exit): fail on it
    if code != 1:
        for p in ctx.procs:
            try:
                err = p.stderr()
            except OSError:
                continue
            m = re.search(r"ERROR: (AddressSanitizer|LeakSanitizer|ThreadSanitizer)|"
                          r"runtime error:|WARNING: ThreadSanitizer", err)
            if m:
                print("FAIL: %s: %s reported a sanitizer error: %s" % (name, p.name, m.group(0)))
                code = 1
    if code == 1:
        ctx.dump()
        print("temporary directory kept:", ctx.dir)
    else:
        shutil.rmtree(ctx.dir, ignore_errors=True)
        if code == 0:
            print("PASS: %s (%.2fs)" % (name, time.monotonic() - ctx.t0))
    sys.stdout.flush()
    sys.exit(code)
