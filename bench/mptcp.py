#!/usr/bin/env python3
"""Bulk throughput and tcplb CPU per GiB through one session, MPTCP or TCP
on both sides (issue 27: which relay path is fastest for MPTCP sockets).

    bench/mptcp.py TCPLB mptcp|tcp [BYTES]

One worker; a client sends BYTES (default 1 GiB) to a sink through tcplb on
loopback; prints MB/s and tcplb's CPU seconds (user+sys) per GiB.  To
compare splice() with the buffered path, build a second binary with
relay_pools_init(..., false) in src/relay/workers.c and run both,
alternating, several times: a loaded machine is noisy."""
import os, socket, subprocess, sys, tempfile, threading, time

BIN, MODE = sys.argv[1], sys.argv[2]
N = int(sys.argv[3]) if len(sys.argv) > 3 else 1 << 30
P = 262 if MODE == "mptcp" else 0       # IPPROTO_MPTCP
sink = socket.socket(socket.AF_INET, socket.SOCK_STREAM, P)
sink.bind(("127.0.0.1", 0))
sink.listen()
got = [0]


def drain():
    c, _ = sink.accept()
    buf = memoryview(bytearray(1 << 20))
    while True:
        n = c.recv_into(buf)
        if not n:
            return
        got[0] += n


threading.Thread(target=drain, daemon=True).start()
probe = socket.socket()
probe.bind(("127.0.0.1", 0))
port = probe.getsockname()[1]
probe.close()
mp = "true" if P else "false"
cfg = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
cfg.write("global: {workers: 1}\nlisteners:\n  l: {bind: \"127.0.0.1:%d\", pool: p, mptcp: %s}\n"
          "pools:\n  p:\n    mptcp: %s\n    servers: [\"127.0.0.1:%d\"]\n"
          % (port, mp, mp, sink.getsockname()[1]))
cfg.close()
lb = subprocess.Popen([BIN, "-c", cfg.name, "--log-target", "stderr"],
                      stderr=subprocess.DEVNULL)
try:
    time.sleep(0.5)     # ready; no probe connection, the sink takes one
    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM, P)
    c.connect(("127.0.0.1", port))
    data = b"x" * (1 << 20)
    t0 = time.time()
    sent = 0
    while sent < N:
        c.sendall(data)
        sent += len(data)
    c.shutdown(socket.SHUT_WR)
    while got[0] < N:
        time.sleep(0.001)
    dt = time.time() - t0
    st = open("/proc/%d/stat" % lb.pid).read().split(")")[1].split()
    cpu = (int(st[11]) + int(st[12])) / os.sysconf("SC_CLK_TCK")
    print("%s %s: %.0f MB/s, tcplb cpu %.2fs per GiB"
          % (os.path.basename(BIN), MODE, N / dt / 1e6, cpu * (1 << 30) / N))
finally:
    lb.terminate()
    lb.wait()
    os.unlink(cfg.name)
