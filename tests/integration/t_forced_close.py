"""A forced close -- idle_timeout, shutdown_timeout -- resets both sides.
A download cut short must never look complete: the client that was not
reading sees a reset after the bytes it already had, never a clean EOF,
and the server sees a reset too."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *

CFG = """\
global:
  shutdown_timeout: 1s
defaults:
  idle_timeout: %s
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
pools:
  p:
    servers: [ "%s" ]
"""


def case(t, label, idle, stop):
    state = {}
    stalled = threading.Event()

    def handler(c, b):
        # stream until nothing more fits (the client does not read), then
        # wait to hear how tcplb ends the session
        c.setblocking(False)
        since = None
        while time.monotonic() - (since or time.monotonic()) < 0.3:
            try:
                c.send(b"d" * 65536)
                since = None
            except BlockingIOError:
                since = since or time.monotonic()
                time.sleep(0.01)
            except OSError as e:
                state["server"] = "error %s while sending" % e
                stalled.set()
                return
        stalled.set()
        c.settimeout(10)
        try:
            state["server"] = "eof" if c.recv(1) == b"" else "data"
        except ConnectionResetError:
            state["server"] = "reset"
        except OSError as e:
            state["server"] = repr(e)

    b = t.thread_backend(handler)
    port = free_port()
    lb = t.start_config(CFG % (idle, port, b.hostport))
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    t.check(stalled.wait(15), "%s: the server never filled the path" % label)
    t0 = time.monotonic()
    if stop:
        lb.signal(signal.SIGTERM)
        t.eq(lb.wait(5), 0, "%s: exit status after shutdown_timeout" % label)
    t.check(wait_until(lambda: "server" in state, 5), "%s: the server saw no end" % label)
    data, how = recv_until_eof(s, timeout=10)
    s.close()
    t.log("%s: closed after %.2fs; client read %d bytes then %s; server saw %s"
          % (label, time.monotonic() - t0, len(data), how, state["server"]))
    t.eq(how, "reset", "%s: how the client's download ended" % label)
    t.eq(state["server"], "reset", "%s: how the server's side ended" % label)
    lb.stop()


def test(t):
    case(t, "idle_timeout", "1s", stop=False)
    case(t, "shutdown_timeout", "5m", stop=True)


run(test, timeout=90)
