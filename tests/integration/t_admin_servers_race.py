"""add server, hostile and racing: two admin clients adding the same
address under two names while the first change is still being built get
one "added" and one error (never two "added" with one server live); an
added server whose name is long and made of bytes the upgrade state file
escapes (%, =, UTF-8) is still there after a binary upgrade; 1500 added
servers take seconds, not minutes (each add builds a generation, which
once rebuilt a pool's index per added server: cubic in them)."""
import sys, os, shutil, threading
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def servers(sock, pool=None):
    return {x["server"]: x for x in admin_json(sock, "show servers" + (" " + pool if pool else ""))["servers"]}


def test(t):
    a = t.identify_backend("A")
    c = t.identify_backend("C")
    sock = t.path("admin.sock")
    port = free_port()
    exe = t.path("tcplb-bin")
    shutil.copyfile(t.bin, exe)
    os.chmod(exe, 0o755)
    cfg = t.write("tcplb.yaml", """\
global:
  admin_socket: %s
listeners:
  front: {bind: "127.0.0.1:%d", pool: q}
pools:
  q:
    servers:
      - {address: "%s", name: a}
""" % (sock, port, a.hostport))
    n = t.notify_receiver()
    lb = t.start(["-w", "2", "-c", cfg, "--log-target", "stderr"],
                 env={"NOTIFY_SOCKET": n.path}, argv0=[exe])
    t.check(n.wait_for("READY=1", timeout=5), "no READY=1 at start")

    # The same address under two names, from two clients at once.
    for round_ in range(5):
        answers = []
        go = threading.Barrier(2)

        def add(name):
            go.wait()
            answers.append(admin_send(sock, "add server q %s name %s" % (c.hostport, name)))
        ths = [threading.Thread(target=add, args=("x%d" % k,)) for k in range(2)]
        for th in ths:
            th.start()
        for th in ths:
            th.join(10)
        added = [r for r in answers if r.startswith("added server")]
        st = servers(sock, "q")
        live = [k for k in st if k != "a"]
        t.eq(len(added), len(live), "round %d: answers %r, live added servers %r" % (round_, answers, live))
        t.eq(len(live), 1, "round %d: live added servers %r" % (round_, live))
        for k in live:
            r = admin_send(sock, "del server q/%s" % k)
            t.check(r.startswith("deleted server"), r)
        t.check(wait_until(lambda: list(servers(sock, "q")) == ["a"], timeout=5), "left over after del")

    # Thousands added one by one: each builds a generation.
    many = 300 if lb.sanitizer() else 1500
    t0 = time.monotonic()
    for i in range(many):
        r = admin_send(sock, "add server q 127.1.%d.%d:80" % (i // 250, i % 250 + 1))
        if not r.startswith("added server"):
            t.check(False, "add %d: %r" % (i, r))
    took = time.monotonic() - t0
    t.log("%d adds in %.1f s" % (many, took))
    t.check(took < 60 if lb.sanitizer() else took < 15, "%d adds took %.1f s" % (many, took))
    t.eq(len(servers(sock, "q")), many + 1, "servers after the adds")
    for i in range(many):
        admin_send(sock, "del server q/127.1.%d.%d:80" % (i // 250, i % 250 + 1))
    t.eq(list(servers(sock, "q")), ["a"], "servers after the dels")

    # A long name of escaped bytes goes along through an upgrade.
    long_name = ("%=\u00e9" * 63)[:150]
    t.check(len(long_name.encode()) > 170, "name too short to test")
    r = admin_send(sock, "add server q %s name %s" % (c.hostport, long_name))
    t.check(r.startswith("added server q/"), r)
    start = n.count()
    lb.signal(signal.SIGUSR2)
    r = n.wait_for("MAINPID=", start=start, timeout=15)
    t.check(r, "no MAINPID= after SIGUSR2")
    new_pid = int([l for l in r[1].split("\n") if l.startswith("MAINPID=")][0].split("=")[1])
    t.check(wait_until(lambda: admin_json(sock, "show info")["pid"] == new_pid, timeout=10),
            "the new process does not answer")
    st = servers(sock, "q")
    t.check(long_name in st, "added server with a long name lost in the upgrade: %s" % list(st))
    t.eq(lb.wait(10), 0, "the old process exits 0")
    os.kill(new_pid, signal.SIGTERM)
    wait_until(lambda: not os.path.exists("/proc/%d" % new_pid) or
               open("/proc/%d/stat" % new_pid).read().rsplit(")", 1)[1].split()[0] == "Z", 10)


run(test)
