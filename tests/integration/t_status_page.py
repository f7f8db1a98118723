"""GET / is the status page: one HTML document, no script, no external
asset, refreshing itself, a table per pool.  A real headless browser
(chromium --dump-dom) renders it, and every row agrees with the admin
socket's `show servers json` (state, weight, active, total)."""
import sys, os, json, shutil, tempfile
from html.parser import HTMLParser
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


class Rows(HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows = []          # (pool, server, [cells], class)
        self.pool = None
        self.cur = None
        self.cell = None
        self.scripts = 0
        self.refresh = None
        self.external = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script":
            self.scripts += 1
        if tag == "meta" and a.get("http-equiv", "").lower() == "refresh":
            self.refresh = a.get("content")
        for k in ("src", "href"):
            if k in a and (a[k].startswith("http") or a[k].startswith("//")):
                self.external.append(a[k])
        if tag == "link":
            self.external.append(a.get("href"))
        if tag == "table" and "data-pool" in a:
            self.pool = a["data-pool"]
        if tag == "tr" and "data-server" in a:
            self.cur = [self.pool, a["data-server"], [], a.get("class")]
        if tag == "td" and self.cur is not None:
            self.cell = ""

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data

    def handle_endtag(self, tag):
        if tag == "td" and self.cur is not None and self.cell is not None:
            self.cur[2].append(self.cell.strip())
            self.cell = None
        if tag == "tr" and self.cur is not None:
            self.rows.append(tuple(self.cur))
            self.cur = None


def test(t):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        t.fail("chromium not installed (Debian package chromium; see .ci/setup)")
    a = t.identify_backend("A")
    b = t.identify_backend("B")
    port = free_port()
    mport = free_port()
    sock = t.path("admin.sock")
    lb = t.start_config("""\
global:
  admin_socket: %s
  metrics: 127.0.0.1:%d
listeners:
  front: {bind: "127.0.0.1:%d", pool: web}
  other: {bind: "127.0.0.1:%d", pool: "<b>&x"}
pools:
  web:
    servers:
      - {address: "%s", name: app1, weight: 3}
      - {address: "%s", name: app2}
  "<b>&x":
    health_check: {interval: 100ms, fall: 1}
    servers:
      - {address: "127.0.0.1:%d", name: "<i>gone"}
""" % (sock, mport, port, free_port(), a.hostport, b.hostport, refused_port()))
    addr = ("127.0.0.1", port)
    held = [t.hold(addr)[0] for _ in range(4)]
    for i in range(3):
        t.identify(addr)
    admin_send(sock, "set server web/app2 state drain")
    wait_until(lambda: admin_json(sock, "show servers")["servers"][2]["health"] == "down", 5)

    profile = tempfile.mkdtemp(prefix="chromium-", dir=t.dir)
    p = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                        "--disable-background-networking", "--disable-component-update",
                        "--disable-sync", "--no-first-run", "--user-data-dir=" + profile,
                        "--dump-dom", "http://127.0.0.1:%d/" % mport],
                       capture_output=True, timeout=60)
    dom = p.stdout.decode("utf-8", "replace")
    t.check(p.returncode == 0 and "<table" in dom,
            "chromium --dump-dom failed (%d): %s" % (p.returncode, p.stderr.decode()[-2000:]))
    servers = admin_json(sock, "show servers")["servers"]
    parser = Rows()
    parser.feed(dom)
    t.eq(parser.scripts, 0, "no script on the page")
    t.eq(parser.external, [], "no external asset")
    t.check(parser.refresh and int(parser.refresh.split(";")[0]) > 0, "refreshes itself")
    t.eq(len(parser.rows), len(servers), "one row per server:\n" + dom)
    for pool, name, cells, cls in parser.rows:
        j = [x for x in servers if x["pool"] == pool and x["server"] == name]
        t.eq(len(j), 1, "row %s/%s matches a server" % (pool, name))
        j = j[0]
        t.eq(cells[0], j["server"])
        t.eq(cells[1], j["address"])
        t.eq(cells[2], j["state"], "state of %s/%s" % (pool, name))
        t.eq(cls, j["state"], "row class (colour) of %s/%s" % (pool, name))
        t.eq(int(cells[3]), j["weight"])
        t.eq(int(cells[4]), j["active"])
        t.eq(int(cells[5]), j["total"])
    states = {r[1]: r[2][2] for r in parser.rows}
    t.eq(states, {"app1": "ready", "app2": "drain", "<i>gone": "down"})
    # colours differ per state (inline CSS)
    st, h, body = http_get(("127.0.0.1", mport), "/")
    t.eq(h["content-type"], "text/html; charset=utf-8")
    css = body.decode()
    for state in ("ready", "drain", "maint", "down"):
        t.check(re.search(r"tr\.%s td\.st\{background:#[0-9a-f]{6}\}" % state, css), "colour for " + state)
    t.check("&lt;b&gt;&amp;x" in css and "<b>&x" not in css, "names escaped")


run(test, timeout=120)
