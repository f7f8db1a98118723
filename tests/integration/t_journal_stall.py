"""A journal that stops reading must not stall any connection (issue 9,
defect 3).  tcplb logs natively to a stand-in journal socket
(TCPLB_JOURNAL_SOCKET): records carry the TCPLB_* fields, in the binary-safe
form where a value holds a newline.  While the stand-in reads nothing,
connections keep flowing at normal latency; the records that do not fit the
bounded queue are dropped and counted, and once the journal reads again a
record reports the count -- every access record either arrives or is
counted, and the count is in `show info` and /metrics."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


class StandInJournal:
    """AF_UNIX datagram socket speaking journald's native protocol; reading
    can be paused, which fills the socket as a stalled journald does."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.1)
        self.reading = threading.Event()
        self.reading.set()
        self.lock = threading.Lock()
        self.records = []
        self._stop = False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    @staticmethod
    def parse(data):
        rec, i = {}, 0
        while i < len(data):
            nl = data.index(b"\n", i)
            line = data[i:nl]
            if b"=" in line:
                k, v = line.split(b"=", 1)
                i = nl + 1
            else:  # KEY \n le64 length, value, \n
                k = line
                n = struct.unpack("<Q", data[nl + 1:nl + 9])[0]
                v = data[nl + 9:nl + 9 + n]
                assert data[nl + 9 + n:nl + 10 + n] == b"\n", "bad binary field"
                i = nl + 10 + n
            rec[k.decode()] = v.decode("utf-8", "replace")
        return rec

    def _loop(self):
        while not self._stop:
            if not self.reading.wait(0.1):
                continue
            try:
                data = self.sock.recv(1 << 20)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.records.append(self.parse(data))

    def find(self, pred):
        with self.lock:
            return [r for r in self.records if pred(r)]

    def close(self):
        self._stop = True
        self.reading.set()
        self.thread.join(2)
        self.sock.close()


def timed_identify(t, addr, n, what):
    lat = []
    for i in range(n):
        t0 = time.monotonic()
        got = t.identify(addr, timeout=2)
        lat.append(time.monotonic() - t0)
        if got != "A":
            t.fail("%s: connection %d not served (%r)" % (what, i, got))
    lat.sort()
    return lat[len(lat) // 2], lat[int(len(lat) * 0.99)], lat[-1]


def test(t):
    a = t.identify_backend("A")
    j = StandInJournal(t.path("journal.sock"))
    t.add_closer(j)
    port = free_port()
    mport = free_port()
    sock = t.path("admin.sock")
    cfg = """\
global: {workers: 1, access_log: true, admin_socket: "%s", metrics: "127.0.0.1:%d"}
listeners:
  front: {bind: "127.0.0.1:%d", pool: "web\\nside"}
pools:
  "web\\nside":
    servers: [%s]
""" % (sock, mport, port, a.hostport)
    lb = t.start_config(cfg, extra=["--log-target", "journal"], log_stderr=False,
                        env={"TCPLB_JOURNAL_SOCKET": j.path})
    addr = ("127.0.0.1", port)

    base = timed_identify(t, addr, 200, "journal reading")
    t.check(wait_until(lambda: len(j.find(lambda r: r.get("TCPLB_EVENT") == "access")) >= 200),
            "access records did not reach the journal")
    r = j.find(lambda r: r.get("TCPLB_EVENT") == "access")[0]
    t.log("an access record: %r" % r)
    for k in ("PRIORITY", "SYSLOG_IDENTIFIER", "TCPLB_SESSION", "TCPLB_CLIENT",
              "TCPLB_LISTENER", "TCPLB_POOL", "TCPLB_SERVER", "TCPLB_SERVER_ADDR",
              "TCPLB_BYTES_IN", "TCPLB_BYTES_OUT", "TCPLB_CONNECT_MS", "TCPLB_DURATION_MS",
              "TCPLB_TRIES", "TCPLB_TERMINATION", "MESSAGE"):
        t.check(k in r, "access record lacks %s: %r" % (k, r))
    t.eq(r["SYSLOG_IDENTIFIER"], "tcplb")
    t.eq(r["PRIORITY"], "6")
    t.eq(r["TCPLB_POOL"], "web\nside", "a value with a newline (binary-safe form)")
    t.eq(r["TCPLB_SERVER_ADDR"], a.hostport)

    # Stall: nothing is read.  3,000 connections are more than the queue
    # (2,048 records) and the socket hold together.
    j.reading.clear()
    time.sleep(0.2)
    before = len(j.find(lambda r: True))
    n = 3000
    stalled = timed_identify(t, addr, n, "journal stalled")
    t.log("latency p50/p99/max: journal reading %.1f/%.1f/%.1f ms, stalled %.1f/%.1f/%.1f ms"
          % tuple(x * 1000 for x in base + stalled))
    t.check(stalled[1] < max(0.25, 10 * base[1]),
            "p99 latency %.0f ms with the journal stalled (%.0f ms reading)"
            % (stalled[1] * 1000, base[1] * 1000))
    t.check(stalled[2] < 1.5, "a connection took %.2f s with the journal stalled" % stalled[2])

    # Resume: the queue drains, then one record says how many were lost.
    j.reading.set()
    drop = wait_until(lambda: j.find(lambda r: "log records dropped" in r.get("MESSAGE", "")
                                     or "log record dropped" in r.get("MESSAGE", "")), timeout=10)
    t.check(drop, "no record reported the dropped records after the journal resumed")
    time.sleep(0.5)
    drop = j.find(lambda r: " dropped: the journal was not accepting them" in r.get("MESSAGE", ""))
    msg = [r["MESSAGE"] for r in drop]
    dropped = sum(int(m.split()[0]) for m in msg)
    t.eq(drop[0]["PRIORITY"], "4")
    got = len(j.find(lambda r: r.get("TCPLB_EVENT") == "access")) - 200
    t.log("stall: %d connections, %d access records delivered, %d reported dropped (%r)"
          % (n, got, dropped, msg))
    t.check(dropped > 0, "nothing was dropped: the stall did not fill the queue")
    t.check(got >= 2048, "only %d queued records were delivered after the stall" % got)
    t.eq(got + dropped, n, "delivered + dropped access records")
    info = admin_json(sock, "show info")
    t.eq(info.get("log_dropped"), dropped, "show info json log_dropped")
    t.check(re.search(r"^log records dropped: %d$" % dropped, admin_send(sock, "show info"), re.M),
            "show info names the dropped records")
    st, _, body = http_get(("127.0.0.1", mport), "/metrics")
    t.check(re.search(r"^tcplb_log_records_dropped_total %d$" % dropped, body.decode(), re.M),
            "metrics lack tcplb_log_records_dropped_total %d" % dropped)
    # and logging goes on normally
    timed_identify(t, addr, 20, "journal reading again")
    t.check(wait_until(lambda: len(j.find(lambda r: r.get("TCPLB_EVENT") == "access")) >= 200 + got + 20),
            "access records did not resume")


run(test)
