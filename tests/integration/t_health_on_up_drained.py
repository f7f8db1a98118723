"""on_up: shutdown_backup_sessions moves clients from the backups to a
primary that came back -- only if that primary takes new connections.  A
primary the operator drained (or put at weight 0) that passes its check
again takes no client, so resetting the backups' sessions would only
send their clients back to the same backups after an outage."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from t_health_on_down import Toggle, outcome


def test(t):
    prim = t.identify_backend("PRIMARY")
    back = t.identify_backend("BACKUP")
    chk = Toggle()
    t.add_closer(chk)
    port = free_port()
    addr = ("127.0.0.1", port)
    sock = t.path("admin.sock")
    lb = t.start_config("""\
global:
  admin_socket: %s
listeners:
  front: {bind: "127.0.0.1:%d", pool: db}
pools:
  db:
    on_up: shutdown_backup_sessions
    health_check: {interval: 200ms, timeout: 300ms, rise: 1, fall: 1}
    servers:
      - {address: "%s", name: primary, check_port: %d}
      - {address: "%s", name: backup, backup: true}
""" % (sock, port, prim.hostport, chk.port, back.hostport))
    chk.down()
    t.check(lb.wait_stderr(r"server db/primary .*is DOWN", timeout=3), "primary not marked down")
    onb = []
    for i in range(3):
        s = connect(addr)
        t.eq(recv_line(s), "BACKUP")
        onb.append(s)
    for how in ("state drain", "weight 0"):
        admin_send(sock, "set server db/primary " + how)
        mark = len(lb.stderr())
        chk.up()
        t.check(lb.wait_stderr(r"server db/primary .*is UP", timeout=3,
                               start=mark), "primary not marked up (%s)" % how)
        seen = [outcome(s, 1.0) for s in onb]
        t.log("backup's sessions after a %s primary came back:" % how, seen)
        t.eq(seen, ["open"] * 3, "backup sessions, primary back up in %s" % how)
        s = connect(addr)
        t.eq(recv_line(s), "BACKUP", "a new client while the primary is in %s" % how)
        s.close()
        mark = len(lb.stderr())
        chk.down()
        t.check(lb.wait_stderr(r"server db/primary .*is DOWN", timeout=3,
                               start=mark), "primary not marked down again")
        admin_send(sock, "set server db/primary state ready" if how == "state drain"
                   else "set server db/primary weight 1")
    # Ready and back: now the backups' clients move.
    chk.up()
    seen = [outcome(s, 3.0) for s in onb]
    t.eq(seen, ["reset"] * 3, "backup sessions once a ready primary came back")
    t.check(lb.alive(), "tcplb died")


if __name__ == "__main__":
    run(test)
