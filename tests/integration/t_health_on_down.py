"""on_down: shutdown_sessions resets (RST, not FIN) every session open on a
server the moment its check marks it down, and on_up:
shutdown_backup_sessions resets the sessions on backup servers when a
primary comes back, so clients return to it.  The check goes to a
separate check_port, which the test opens and closes."""
import sys, os, socket, errno
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


class Toggle:
    """A listening socket on a fixed port that can be closed (the check
    is refused) and opened again."""
    def __init__(self):
        self.port = free_port()
        self.s = None
        self.up()

    def up(self):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(64)
        self.s = s

    def down(self):
        self.s.close()
        self.s = None

    def close(self):
        if self.s:
            self.s.close()


def outcome(s, timeout=5.0):
    """What the client sees on an idle session: 'reset', 'eof' or 'open'."""
    s.settimeout(timeout)
    try:
        d = s.recv(100)
        return "eof" if d == b"" else "data"
    except ConnectionResetError:
        return "reset"
    except socket.timeout:
        return "open"


def test(t):
    prim = t.identify_backend("PRIMARY")
    back = t.identify_backend("BACKUP")
    chk = Toggle()
    t.add_closer(chk)
    port = free_port()
    addr = ("127.0.0.1", port)
    lb = t.start_config("""\
listeners:
  front: {bind: "127.0.0.1:%d", pool: db}
pools:
  db:
    on_down: shutdown_sessions
    on_up: shutdown_backup_sessions
    health_check: {interval: 200ms, timeout: 300ms, rise: 1, fall: 1}
    servers:
      - {address: "%s", name: primary, check_port: %d}
      - {address: "%s", name: backup, backup: true}
""" % (port, prim.hostport, chk.port, back.hostport))
    held = []
    for i in range(5):
        s = connect(addr)
        t.eq(recv_line(s), "PRIMARY")
        held.append(s)
    chk.down()
    t0 = time.monotonic()
    seen = [outcome(s) for s in held]
    dt = time.monotonic() - t0
    t.log("primary's sessions after its check failed:", seen, "in %.2fs" % dt)
    t.eq(seen, ["reset"] * 5, "sessions on the downed primary")
    t.check(dt < 2.0, "reset took %.2fs (interval 200ms, fall 1)" % dt)
    t.check(lb.wait_stderr(r"on_down: server db/primary marked down: reset 5 sessions", timeout=2),
            "no log of the reset")
    # New clients reach the backup.
    onb = []
    for i in range(3):
        s = connect(addr)
        t.eq(recv_line(s), "BACKUP")
        onb.append(s)
    # The primary comes back: the backup's clients are reset, new ones
    # go to the primary.
    chk.up()
    t0 = time.monotonic()
    seen = [outcome(s) for s in onb]
    dt = time.monotonic() - t0
    t.log("backup's sessions after the primary came back:", seen, "in %.2fs" % dt)
    t.eq(seen, ["reset"] * 3, "sessions on the backup")
    s = connect(addr)
    t.eq(recv_line(s), "PRIMARY")
    # Still open, not touched by anything.
    t.eq(outcome(s, 0.5), "open", "a fresh session on the primary")
    s.close()
    t.check(lb.alive(), "tcplb died")


if __name__ == "__main__":
    run(test)
