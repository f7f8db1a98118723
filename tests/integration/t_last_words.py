"""A server's last words reach the client before its reset.

1. The HTTP 413 pattern: the server reads the request header, answers,
   and closes while the client is still sending the body, so its kernel
   resets the connection.  5 requests: all 5 replies must reach the client
   through tcplb, as they do direct.
2. Bytes tcplb already holds for the client when the server resets -- in
   its buffer (a trickled stream) or in a splice pipe (a bulk stream), in
   the kernel's queues on either side -- all reach the client, and then
   the reset does.
3. The same the other way: a client that sends a bulk stream to a server
   that is not reading, then resets: the server gets every byte that left
   the client, then the reset -- also when the server is an echo that
   stops reading while its replies pile up (tcplb drops the replies meant
   for the gone client instead of waiting for idle_timeout)."""
import sys, os, fcntl, termios
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *

REPLY = b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
BODY = 4 << 20


def outq(s):
    """Bytes in s's send queue not yet acknowledged by the peer."""
    return struct.unpack("i", fcntl.ioctl(s.fileno(), termios.TIOCOUTQ, b"\0" * 4))[0]


def pipes(lb):
    return sum(1 for v in lb.fds().values() if v.startswith("pipe:"))


def h413(c, b):
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = c.recv(4096)
        if not d:
            return
        buf += d
    # Answer once the body has filled the path (the server's receive
    # queue, tcplb, the client's send queue): tcplb is then waiting to
    # write more when the reset comes.
    time.sleep(0.2)
    c.sendall(REPLY)
    # closing with body bytes unread: the kernel sends a reset
    c.close()


def request_413(addr):
    s = connect(addr, timeout=5)
    err = {}

    def sender():
        try:
            s.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % BODY)
            s.sendall(b"x" * BODY)
        except OSError as e:
            err["send"] = e.errno

    th = threading.Thread(target=sender, daemon=True)
    th.start()
    data, how = recv_until_eof(s, timeout=5)
    th.join(5)
    s.close()
    return data == REPLY, how, err.get("send")


def pipe_bytes(lb):
    """Bytes held in tcplb's pipes (each pipe counted once)."""
    total, seen = 0, set()
    for fd, target in lb.fds().items():
        if not target.startswith("pipe:") or target in seen:
            continue
        seen.add(target)
        try:
            f = os.open("/proc/%d/fd/%d" % (lb.pid, fd), os.O_RDONLY | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            total += struct.unpack("i", fcntl.ioctl(f, termios.FIONREAD, b"\0" * 4))[0]
        finally:
            os.close(f)
    return total


def stream_then_reset(t, lb, trickle):
    """The server streams to a client that does not read, until everything
    downstream is full; notes what left it; resets.  The client then reads:
    it must get exactly those bytes, then the reset.  A trickled stream
    stays in tcplb's buffer; a bulk one is first read 8 MiB by a client
    that starts late (so tcplb's reads fill whole buffers and the flow
    switches to splice whatever the machine's load), then stalled."""
    state = {}
    warm = 0 if trickle else 8 << 20
    warmed = threading.Event()
    ready = threading.Event()
    done = threading.Event()

    def handler(c, b):
        sent = bytearray(os.urandom(warm))
        if warm:
            c.sendall(sent)
            if not warmed.wait(20):
                return
        c.setblocking(False)
        stalled_since = None
        chunk = 8192 if trickle else 1 << 18
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            piece = os.urandom(chunk)
            try:
                n = c.send(piece)
                sent += piece[:n]
                stalled_since = None
            except BlockingIOError:
                n = 0
            if n == 0:
                stalled_since = stalled_since or time.monotonic()
                if time.monotonic() - stalled_since > 0.3:
                    break
                time.sleep(0.01)
            elif trickle:
                time.sleep(0.001)
        state["sent"] = bytes(sent)
        state["left"] = len(sent) - outq(c)
        ready.set()
        done.wait(10)
        rst_close(c)

    b = t.thread_backend(handler)
    t.reload(lb, CFG % (lb.port, b.hostport))
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
    s.settimeout(5)
    s.connect(("127.0.0.1", lb.port))
    label = "trickle" if trickle else "bulk"
    first = b""
    spliced = False
    if warm:
        time.sleep(0.3)
        first = recv_exact(s, warm, 20)
        spliced = wait_until(lambda: pipes(lb) >= 2, 5)
        # Under ThreadSanitizer tcplb runs ~10x slower and may never read
        # whole buffers in a row; the pipe case is then covered by the
        # other two passes, and this one still checks the bytes.
        if not spliced and lb.sanitizer() == "tsan":
            t.log("NOTE: no splice under ThreadSanitizer; bytes checked only")
        else:
            t.check(spliced, "%s: stream never switched to splice" % label)
        warmed.set()
    t.check(ready.wait(25), "server never filled the path")
    held = pipe_bytes(lb)
    t.log("%s: server sent %d bytes, %d left it; tcplb holds %d bytes in pipes"
          % (label, len(state["sent"]), state["left"], held))
    if trickle and held:
        t.log("NOTE: the trickled stream was spliced after all (machine load)")
    if not trickle and (spliced or lb.sanitizer() != "tsan"):
        t.check(held > 0, "%s: no byte waits in a splice pipe" % label)
    done.set()
    time.sleep(0.2)          # the reset reaches tcplb before the client reads
    data, how = recv_until_eof(s, timeout=10)
    s.close()
    data = first + data
    t.log("%s: client got %d bytes, then %s" % (label, len(data), how))
    t.eq(len(data), state["left"], "%s: bytes the client got" % label)
    t.check(data == state["sent"][:len(data)], "%s: bytes corrupted" % label)
    t.eq(how, "reset", "%s: how the stream ended" % label)


def client_streams_then_resets(t, lb):
    got = {}
    go = threading.Event()

    def handler(c, b):
        go.wait(20)           # not reading until the client has reset
        data, how = recv_until_eof(c, timeout=10)
        got["data"], got["how"] = data, how

    b = t.thread_backend(handler)
    t.reload(lb, CFG % (lb.port, b.hostport))
    s = connect(("127.0.0.1", lb.port), timeout=5)
    s.setblocking(False)
    sent = bytearray()
    stalled_since = None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        piece = os.urandom(1 << 18)
        try:
            n = s.send(piece)
            sent += piece[:n]
            stalled_since = None
        except BlockingIOError:
            stalled_since = stalled_since or time.monotonic()
            if time.monotonic() - stalled_since > 0.3:
                break
            time.sleep(0.01)
    left = len(sent) - outq(s)
    t.log("client->server: client sent %d bytes, %d left it; tcplb holds %d pipe fd(s)"
          % (len(sent), left, pipes(lb)))
    rst_close(s)
    time.sleep(0.2)
    go.set()
    t.check(wait_until(lambda: "how" in got, 15), "server never finished reading")
    t.log("client->server: server got %d bytes, then %s" % (len(got["data"]), got["how"]))
    t.eq(len(got["data"]), left, "client->server: bytes the server got")
    t.check(got["data"] == bytes(sent[:left]), "client->server: bytes corrupted")
    t.eq(got["how"], "reset", "client->server: how the stream ended")


def client_resets_echo_blocked(t, lb):
    """An echo server that stops reading while it cannot write (its reply
    is not being read) and a client that sends until everything is full,
    then resets.  What left the client must still reach the server: tcplb
    has to drop the replies meant for the gone client so the server reads
    again -- not wait, holding the session, for idle_timeout."""
    def echo(c, b):
        # echoes, reading only while less than 4 MiB of echo waits; after a
        # failed send it only reads (and counts) until the end
        c.setblocking(False)
        sel = selectors.DefaultSelector()
        sel.register(c, selectors.EVENT_READ)
        out, got, can_send = bytearray(), 0, True
        while True:
            mask = (selectors.EVENT_READ if len(out) < (4 << 20) else 0) | \
                (selectors.EVENT_WRITE if out else 0)
            sel.modify(c, mask)
            events = sel.select(10)
            if not events:
                b.record((got, "timeout", not can_send))
                return
            for _, ev in events:
                if ev & selectors.EVENT_WRITE:
                    try:
                        del out[:c.send(out)]
                    except BlockingIOError:
                        pass
                    except OSError:
                        can_send = False
                        out.clear()
                if ev & selectors.EVENT_READ:
                    try:
                        d = c.recv(1 << 18)
                    except BlockingIOError:
                        continue
                    except ConnectionResetError:
                        b.record((got, "reset", not can_send))
                        return
                    if not d:
                        b.record((got, "eof", not can_send))
                        return
                    got += len(d)
                    if can_send:
                        out += d

    b = t.thread_backend(echo)
    t.reload(lb, CFG % (lb.port, b.hostport))
    s = connect(("127.0.0.1", lb.port), timeout=5)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
    s.setblocking(False)
    sent, stalled_since = 0, None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            sent += s.send(b"e" * (1 << 18))
            stalled_since = None
        except BlockingIOError:
            stalled_since = stalled_since or time.monotonic()
            if time.monotonic() - stalled_since > 0.3:
                break
            time.sleep(0.01)
    left = sent - outq(s)
    rst_close(s)
    t0 = time.monotonic()
    t.check(wait_until(lambda: b.results, 5),
            "echo server still connected 5s after the client's reset")
    got, how, send_failed = b.results[0]
    t.log("client reset, echo server blocked: client sent %d bytes, %d left it; "
          "server got %d, then %s after %.2fs%s"
          % (sent, left, got, how, time.monotonic() - t0,
             " (a send had failed: reset)" if send_failed else ""))
    t.eq(got, left, "bytes the echo server got")
    # A failed send consumes the reset: the reads after it end in EOF.
    t.check(how == "reset" or (how == "eof" and send_failed),
            "the echo server's connection ended by %s, not a reset" % how)


CFG = """\
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    servers: [ "%s" ]
"""


def test(t):
    b = t.thread_backend(h413)
    direct = [request_413(b.addr) for _ in range(5)]
    t.log("413 direct:", direct)
    port = free_port()
    lb = t.start_config(CFG % (port, b.hostport))
    lb.port = port
    via = [request_413(("127.0.0.1", port)) for _ in range(5)]
    t.log("413 through tcplb:", via)
    t.eq(sum(ok for ok, _, _ in direct), 5, "413 replies direct (test is broken)")
    t.eq(sum(ok for ok, _, _ in via), 5, "413 replies through tcplb")
    for ok, how, send_err in via:
        t.check(how == "reset" or send_err in (errno.ECONNRESET, errno.EPIPE),
                "the server's reset did not reach the client (%s, send %s)" % (how, send_err))

    stream_then_reset(t, lb, trickle=True)
    stream_then_reset(t, lb, trickle=False)
    client_streams_then_resets(t, lb)
    client_resets_echo_blocked(t, lb)
    t.check(lb.alive(), "tcplb died")


run(test, timeout=120)
