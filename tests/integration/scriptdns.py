"""A scripted name server for the DNS edge tests (issue 22): answers A,
AAAA and SRV from a dict the test changes at any time, over UDP and TCP
(an answer too big for 512 bytes is truncated over UDP, so the resolver
asks again over TCP).  A value may also be an rcode: "SERVFAIL",
"NXDOMAIN", or "DROP" (no answer at all).

    d = ScriptDns()
    d.set("app.test", "A", ["127.0.0.2"])
    d.set("app.test", "AAAA", "SERVFAIL")
    d.set("_x._tcp.test", "SRV", [(0, 10, 8080, "a.test")])
"""
import socket
import struct
import threading

QTYPES = {1: "A", 28: "AAAA", 33: "SRV"}
RCODES = {"SERVFAIL": 2, "NXDOMAIN": 3}


def _name(n):
    return b"".join(bytes([len(p)]) + p.encode() for p in n.rstrip(".").split(".")) + b"\0"


class ScriptDns:
    def __init__(self, host="127.0.0.1"):
        self.lock = threading.Lock()
        self.records = {}
        self.queries = []
        # UDP and TCP on one port: retry until a port is free for both
        for attempt in range(50):
            self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.udp.bind((host, 0))
            self.port = self.udp.getsockname()[1]
            self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                self.tcp.bind((host, self.port))
                break
            except OSError:
                self.udp.close()
                self.tcp.close()
        else:
            raise OSError("no port free for both UDP and TCP")
        self.tcp.listen(16)
        self.udp.settimeout(0.2)
        self.tcp.settimeout(0.2)
        self.server = "%s:%d" % (host, self.port)
        self.stop = False
        self.threads = [threading.Thread(target=f, daemon=True)
                        for f in (self._udp_loop, self._tcp_loop)]
        for th in self.threads:
            th.start()

    def set(self, name, qtype, value):
        with self.lock:
            self.records[(name.lower().rstrip("."), qtype)] = value

    def _answer(self, q, udp):
        if len(q) < 17:
            return None
        end = 12
        labels = []
        while end < len(q) and q[end] != 0:
            labels.append(q[end + 1:end + 1 + q[end]].decode("ascii", "replace"))
            end += q[end] + 1
        qtype = struct.unpack(">H", q[end + 1:end + 3])[0]
        question = q[12:end + 5]
        name = ".".join(labels).lower()
        t = QTYPES.get(qtype)
        with self.lock:
            self.queries.append((name, t))
            v = self.records.get((name, t))
            known = any(k[0] == name for k in self.records)
        rcode, ans = 0, []
        if v == "DROP":
            return None
        if isinstance(v, str):
            rcode = RCODES[v]
        elif v is None:
            rcode = 0 if known else 3        # NODATA, or NXDOMAIN
        else:
            for rd in v:
                if t == "A":
                    data = socket.inet_aton(rd)
                elif t == "AAAA":
                    data = socket.inet_pton(socket.AF_INET6, rd)
                else:
                    prio, weight, port, target = rd
                    data = struct.pack(">HHH", prio, weight, port) + _name(target)
                ans.append(b"\xc0\x0c" + struct.pack(">HHIH", qtype, 1, 1, len(data)) + data)
        flags = 0x8180 | rcode
        body = b"".join(ans)
        if udp and 12 + len(question) + len(body) > 512:
            flags |= 0x0200             # TC: ask again over TCP
            ans, body = [], b""
        hdr = q[:2] + struct.pack(">HHHHH", flags, 1, len(ans), 0, 0)
        return hdr + question + body

    def _udp_loop(self):
        while not self.stop:
            try:
                q, peer = self.udp.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            r = self._answer(q, True)
            if r is not None:
                try:
                    self.udp.sendto(r, peer)
                except OSError:
                    pass

    def _tcp_one(self, c):
        c.settimeout(2)
        try:
            while True:
                h = c.recv(2)
                if len(h) < 2:
                    return
                n = struct.unpack(">H", h)[0]
                q = b""
                while len(q) < n:
                    d = c.recv(n - len(q))
                    if not d:
                        return
                    q += d
                r = self._answer(q, False)
                if r is None:
                    return
                c.sendall(struct.pack(">H", len(r)) + r)
        except OSError:
            pass
        finally:
            c.close()

    def _tcp_loop(self):
        while not self.stop:
            try:
                c, _ = self.tcp.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._tcp_one, args=(c,), daemon=True).start()

    def close(self):
        self.stop = True
        for th in self.threads:
            th.join(2)
        self.udp.close()
        self.tcp.close()
