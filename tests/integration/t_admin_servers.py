"""add server / del server on the admin socket: an added server of a pool
with checks takes no client before a check passes (one that never passes
gets no connect at all), one of a pool without checks takes clients at
once; `show servers` says where each came from (origin); errors are one
line and change nothing; added servers survive a reload, and a file that
now names one takes its own definition; `del server` sends no new client
to it at once while an open session finishes; 0 failed connections while a
server is added and deleted every 100 ms; a binary upgrade carries added
servers to the new process."""
import sys, os, shutil, threading
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def servers(sock, pool=None):
    return {x["server"]: x for x in admin_json(sock, "show servers" + (" " + pool if pool else ""))["servers"]}


def config(sock, port, port2, a, extra=""):
    return """\
global:
  admin_socket: %s
listeners:
  front: {bind: "127.0.0.1:%d", pool: p}
  churn: {bind: "127.0.0.1:%d", pool: q}
pools:
  p:
    health_check: {interval: 200ms, timeout: 200ms, rise: 1, fall: 1}
    servers:
      - {address: "%s", name: a}
%s  q:
    servers:
      - {address: "%s", name: a}
""" % (sock, port, port2, a.hostport, extra, a.hostport)


def test(t):
    a = t.identify_backend("A")
    b = t.identify_backend("B")
    c = t.identify_backend("C")
    sock = t.path("admin.sock")
    port, port2 = free_port(), free_port()
    exe = t.path("tcplb-bin")
    shutil.copyfile(t.bin, exe)
    os.chmod(exe, 0o755)
    cfg = t.write("tcplb.yaml", config(sock, port, port2, a))
    n = t.notify_receiver()
    lb = t.start(["-w", os.environ.get("TCPLB_TEST_WORKERS", "2"), "-c", cfg, "--log-target", "stderr"],
                 env={"NOTIFY_SOCKET": n.path}, argv0=[exe])
    t.check(n.wait_for("READY=1", timeout=5), "no READY=1 at start")
    wait_until(lambda: servers(sock, "p")["a"]["health"] == "up", timeout=5)

    # A server whose checks never pass gets no connect attempt at all.
    dead = "127.0.0.1:%d" % refused_port()
    r = admin_send(sock, "add server p %s name dead" % dead)
    t.check(r.startswith("added server p/dead (%s): takes clients once a health check passes" % dead), r)
    st = servers(sock, "p")
    t.eq(st["dead"]["origin"], "admin", "origin of an added server")
    t.eq(st["a"]["origin"], "file", "origin of a file server")
    t.eq(st["dead"]["health"], "down", "an added server before its first check")
    got = [t.identify(("127.0.0.1", port)) for _ in range(40)]
    t.eq(got.count("A"), 40, "clients with an unchecked added server")
    st = servers(sock, "p")["dead"]
    t.eq((st["total"], sum(st["connect_failures"].values())), (0, 0), "connects to the unchecked server")

    # A live one: traffic once its check passes.
    r = admin_send(sock, "add server p %s name b weight 3" % b.hostport)
    t.check(r.startswith("added server p/b"), r)
    t.check(wait_until(lambda: servers(sock, "p")["b"]["health"] == "up", timeout=5), "b never up")
    got = [t.identify(("127.0.0.1", port)) for _ in range(40)]
    t.check(got.count("B") >= 20, "b (weight 3) took %d of 40" % got.count("B"))
    t.eq(servers(sock, "p")["b"]["weight"], 3, "weight of the added server")

    # Errors: one line each, nothing changes.
    before = admin_send(sock, "show servers")
    for line, want in (
            ("add server nope %s" % c.hostport, "error: no pool 'nope'"),
            ("add server p 999.1.1.1:80", "error: invalid address"),
            ("add server p foo.example:80", "error: invalid address 'foo.example:80': an IP address is needed"),
            ("add server p 127.0.0.1", "error: invalid address"),
            ("add server p %s name b" % c.hostport, "error: pool 'p' already has a server named 'b'"),
            ("add server p %s name other" % b.hostport, "error: pool 'p' already has a server at %s (b)" % b.hostport),
            ("add server p %s weight 300" % c.hostport, "error: invalid weight '300' (0-256)"),
            ("add server p %s bogus" % c.hostport, "error: unexpected 'bogus'"),
            ("add server p/x %s" % c.hostport, "error: expected POOL"),
            ("del server p/a", "error: server p/a comes from the configuration (file)"),
            ("del server p/zz", "error: no server 'zz' in pool 'p'"),
            ("del server p", "error: expected POOL/SERVER")):
        r = admin_send(sock, line)
        t.check(r.startswith(want) and r.count("\n") == 1, "%r answered %r, want %r" % (line, r, want))
    t.eq(admin_send(sock, "show servers").count("\n"), before.count("\n"), "servers after the errors")
    j = admin_json(sock, "add server nope 1.2.3.4:5")
    t.eq(j, {"error": "no pool 'nope'"}, "json error")

    # A reload keeps them (and their state); the file's own name wins.
    t.reload(lb)
    st = servers(sock, "p")
    t.eq((st["b"]["origin"], st["b"]["health"], st["dead"]["origin"]), ("admin", "up", "admin"),
         "added servers after a reload")
    t.write("tcplb.yaml", config(sock, port, port2, a, "      - {address: \"%s\", name: dead}\n" % c.hostport))
    t.reload(lb)
    st = servers(sock, "p")
    t.eq((st["dead"]["origin"], st["dead"]["address"]), ("file", "127.0.0.1:%d" % c.port),
         "a reload whose file names 'dead' takes the file's")
    t.check(lb.wait_stderr(r"added server dead \(%s\) is now the configuration's" % re.escape(dead)),
            "no log line for the added server the file took over")
    r = admin_send(sock, "del server p/dead")
    t.check(r.startswith("error: server p/dead comes from the configuration (file)"), r)

    # del: no new client at once, an open session finishes.
    held = connect(("127.0.0.1", port))
    name = recv_line(held)
    tries = 0
    while name != "B" and tries < 50:
        held.close()
        held = connect(("127.0.0.1", port))
        name = recv_line(held)
        tries += 1
    t.eq(name, "B", "a session on b")
    r = admin_send(sock, "del server p/b")
    t.check(r.startswith("deleted server p/b (%s): 1 open session finishes on it" % b.hostport), r)
    t.check("b" not in servers(sock, "p"), "b still shown after del")
    got = [t.identify(("127.0.0.1", port)) for _ in range(30)]
    t.check("B" not in got and None not in got, "after del: %s" % got)
    held.sendall(b"still there\n")
    t.eq(recv_line(held), "still there", "the open session on the deleted server")
    held.close()
    t.check(lb.wait_stderr(r"pool p: server b \(%s\) deleted, 1 open session left to finish "
                           r"\(admin socket, uid \d+, pid \d+\)" % re.escape(b.hostport)),
            "no log line with uid and pid for del")
    t.check(lb.wait_stderr(r"pool p: server b \(%s\) added, weight 3 \(admin socket, uid \d+, pid \d+\)"
                           % re.escape(b.hostport)), "no log line with uid and pid for add")

    # Churn: add and delete c every 100 ms in pool q (no checks: at once)
    # while clients connect without pause: not one may fail.
    stop = threading.Event()
    fails, done = [], [0]

    def client():
        while not stop.is_set():
            r = t.identify(("127.0.0.1", port2), timeout=5)
            if r not in ("A", "C"):
                fails.append(r)
            done[0] += 1
    ths = [threading.Thread(target=client) for _ in range(4)]
    for th in ths:
        th.start()
    changes, seen_c = 0, 0
    end = time.monotonic() + 3.0
    while time.monotonic() < end:
        r = admin_send(sock, "add server q %s name c" % c.hostport)
        t.check(r.startswith("added server q/c"), r)
        time.sleep(0.05)
        r = admin_send(sock, "del server q/c")
        t.check(r.startswith("deleted server q/c"), r)
        time.sleep(0.05)
        changes += 2
    stop.set()
    for th in ths:
        th.join(10)
    t.log("churn: %d changes, %d connections, %d failed, C served %d" % (changes, done[0], len(fails), c.accepted))
    t.eq(fails, [], "failed connections during the churn")
    t.check(changes >= 20 and done[0] >= 50, "too little churn: %d changes, %d connections" % (changes, done[0]))
    t.check(c.accepted > 0, "c never took a client during the churn")

    # Binary upgrade: the added server goes along.
    r = admin_send(sock, "add server q %s name c2 weight 5 backup" % c.hostport)
    t.check(r.startswith("added server q/c2"), r)
    start = n.count()
    lb.signal(signal.SIGUSR2)
    r = n.wait_for("MAINPID=", start=start, timeout=15)
    t.check(r, "no MAINPID= after SIGUSR2")
    new_pid = int([l for l in r[1].split("\n") if l.startswith("MAINPID=")][0].split("=")[1])
    t.check(wait_until(lambda: admin_json(sock, "show info")["pid"] == new_pid, timeout=10),
            "the new process does not answer")
    st = servers(sock, "q")
    t.check("c2" in st, "added server lost in the upgrade: %s" % list(st))
    t.eq((st["c2"]["origin"], st["c2"]["weight"], st["c2"]["backup"]), ("admin", 5, True),
         "the added server after the upgrade")
    r = admin_send(sock, "del server q/c2")
    t.check(r.startswith("deleted server q/c2"), r)
    t.eq(lb.wait(10), 0, "the old process exits 0")
    os.kill(new_pid, signal.SIGTERM)
    wait_until(lambda: not os.path.exists("/proc/%d" % new_pid) or
               open("/proc/%d/stat" % new_pid).read().rsplit(")", 1)[1].split()[0] == "Z", 10)


run(test)
