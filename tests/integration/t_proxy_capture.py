"""proxy_protocol costs no extra packet: captured on lo (tcpdump), the first
data segment tcplb sends the server carries the PROXY header and the
client's first bytes together, for v1 and v2.  Skipped (77) only when
tcpdump is missing or cannot capture here."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shutil
from lib import *
from proxylib import *

CFG = """\
global:
  workers: 1
listeners:
  l1: {bind: "127.0.0.1:%(p1)d", pool: a}
  l2: {bind: "127.0.0.1:%(p2)d", pool: b}
pools:
  a:
    proxy_protocol: v1
    servers: ["%(be1)s"]
  b:
    proxy_protocol: v2
    servers: ["%(be2)s"]
"""


def pcap_segments(path):
    """(src port, dst port, payload) of every TCP segment over IPv4 in a
    pcap file from `tcpdump -i lo` (linktype EN10MB or LINUX_SLL)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return []
    magic = struct.unpack("<I", data[:4])[0]
    end = "<" if magic in (0xa1b2c3d4, 0xa1b23c4d) else ">"
    linktype = struct.unpack(end + "I", data[20:24])[0]
    off, out = 24, []
    l2 = {1: 14, 113: 16, 276: 20}.get(linktype)
    if l2 is None:
        raise Skip("unexpected pcap link type %d" % linktype)
    while off + 16 <= len(data):
        caplen = struct.unpack(end + "I", data[off + 8:off + 12])[0]
        pkt = data[off + 16:off + 16 + caplen]
        off += 16 + caplen
        ip = pkt[l2:]
        if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 6:
            continue
        ihl = (ip[0] & 15) * 4
        total = struct.unpack("!H", ip[2:4])[0]
        tcp = ip[ihl:total]
        if len(tcp) < 20:
            continue
        sport, dport = struct.unpack("!HH", tcp[:4])
        doff = (tcp[12] >> 4) * 4
        out.append((sport, dport, tcp[doff:]))
    return out


def queued(lport, cport):
    """Bytes waiting in the server-side socket of the connection from
    cport to lport (accepted or still in the accept queue), per ss(8)."""
    out = subprocess.run(["ss", "-Htn", "state", "established", "(", "sport", "=", ":%d" % lport,
                          "and", "dport", "=", ":%d" % cport, ")"],
                         capture_output=True, text=True).stdout.split()
    return int(out[0]) if out else -1


class Capture:
    """Kills tcpdump at cleanup, whatever happened."""
    def __init__(self, proc):
        self.proc = proc

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def test(t):
    if shutil.which("tcpdump") is None:
        raise Skip("tcpdump not installed")
    be1 = t.thread_backend(header_handler, name="b1")
    be2 = t.thread_backend(header_handler, name="b2")
    p1, p2 = free_port(), free_port()
    pcap = t.path("lo.pcap")
    filt = "tcp and (port %d or port %d)" % (be1.port, be2.port)
    cap = subprocess.Popen(["tcpdump", "-i", "lo", "--immediate-mode", "-U", "-n",
                            "-s", "0", "-w", pcap, filt],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t.add_closer(Capture(cap))
    # tcpdump says "listening on lo" once the capture runs
    line = b""
    deadline = time.monotonic() + 5
    os.set_blocking(cap.stderr.fileno(), False)
    while b"listening on" not in line and time.monotonic() < deadline:
        if cap.poll() is not None:
            raise Skip("tcpdump cannot capture on lo: %r" % (line + (cap.stderr.read() or b"")))
        chunk = cap.stderr.read()
        if chunk:
            line += chunk
        time.sleep(0.02)
    if b"listening on" not in line:
        raise Skip("tcpdump did not start capturing: %r" % line)

    lb = t.start_config(CFG % dict(p1=p1, p2=p2, be1=be1.hostport, be2=be2.hostport))
    expect = {}
    for port, be, name in ((p1, be1, "v1"), (p2, be2, "v2")):
        # The client's bytes are in tcplb's socket before tcplb even
        # accepts (it is stopped meanwhile; the kernel completes the
        # handshake): the usual case of a client that speaks first, made
        # deterministic on a loaded machine.
        lb.signal(signal.SIGSTOP)
        t.check(wait_until(lambda: all_stopped(lb.pid), 5), "tcplb did not stop")
        try:
            s = connect(("127.0.0.1", port))
            t.add_closer(s)
            payload = b"first-bytes-" + name.encode()
            s.sendall(payload)
            # loopback delivery may lag behind send() on a loaded machine
            # (softirq): wait until the bytes sit in tcplb's socket
            cport = s.getsockname()[1]
            t.check(wait_until(lambda: queued(port, cport) == len(payload), 5),
                    "the client's bytes never reached tcplb's socket")
        finally:
            lb.signal(signal.SIGCONT)
        line = recv_line(s, 5)
        t.check(line and line.startswith(name + " 127.0.0.1 "), "%s: %r" % (name, line))
        t.eq(recv_exact(s, len(payload)), payload)
        cport = s.getsockname()[1]
        hdr = v1("127.0.0.1", cport, "127.0.0.1", port) if name == "v1" else \
            v2("127.0.0.1", cport, "127.0.0.1", port)
        expect[be.port] = (name, hdr + payload)

    # wait until tcpdump wrote both data segments, then stop it
    def both_seen():
        ports = set(dp for sp, dp, p in pcap_segments(pcap) if p)
        return all(bp in ports for bp in expect)
    wait_until(both_seen, 5)
    cap.send_signal(signal.SIGINT)
    try:
        cap.wait(5)
    except subprocess.TimeoutExpired:
        cap.kill()
    segs = pcap_segments(pcap)
    t.log("%d segments captured" % len(segs))
    for bport, (name, want) in expect.items():
        to_server = [p for sp, dp, p in segs if dp == bport and p]
        t.check(to_server, "%s: no data segment to the server captured" % name)
        t.eq(to_server[0], want, "%s: first segment to the server" % name)


run(test)
