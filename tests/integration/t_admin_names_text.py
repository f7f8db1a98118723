"""Names mean what operators think in text answers and completion (issue
21, items 8 and 12).

- `show servers` renders `a b` and `a_b` differently (both were `a_b`)
  and UTF-8 as UTF-8 (it was `??`); the field as shown can be typed back
  into `set server`.
- Bash completion (contrib/bash-completion/tcplb) offers pool and server
  names from the running tcplb as data: names holding $(...) and `...`
  are offered, quoted, and nothing in them is executed (compgen -W ran
  them in root's shell)."""
import sys, os, shutil
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def test(t):
    port, sock = free_port(), t.path("admin.sock")
    marker = t.path("pwned")
    # Relative: the completion runs in the test's directory (and a '/'
    # would split POOL/SERVER anyway).
    evil_pool = "$(id>pwned)"
    evil_srv = "`id>pwned2`"
    lb = t.start_config("""\
global:
  admin_socket: %s
listeners:
  front: {bind: "127.0.0.1:%d", pool: web}
pools:
  web:
    balance: leastconn
    servers:
      - {address: "127.0.0.1:1", name: "a b"}
      - {address: "127.0.0.1:2", name: a_b}
      - {address: "127.0.0.1:3", name: "\u65e5\u672c"}
      - {address: "127.0.0.1:4", name: "a\\\\x20b"}
      - {address: "127.0.0.1:6", name: "x\\ny"}
  '%s':
    servers:
      - {address: "127.0.0.1:5", name: '%s'}
""" % (sock, port, evil_pool, evil_srv))

    text = admin_send(sock, "show servers web")
    names = [l.split()[1] for l in text.splitlines() if not l.startswith("#")]
    t.eq(sorted(names), sorted(["a\\x20b", "a_b", "\u65e5\u672c", "a\\\\x20b", "x\\x0ay"]),
         "names in the text table")
    t.eq(len(set(names)), 5, "five servers, five distinct names")

    # What the table shows is what set server takes.
    # ... and set server's answer shows the name the same way: `a b` and
    # the name `a\x20b` apart, a newline in a name not a second line.
    ans = admin_send(sock, "set server web/a\\x20b state drain")
    t.check("server web/a\\x20b (127.0.0.1:1): state drain" in ans, ans)
    ans = admin_send(sock, "set server web/x\\x0ay weight 0")
    t.eq(ans, "server web/x\\x0ay (127.0.0.1:6): weight 0 (was 1)\n", "one line per server")
    t.eq(admin_json(sock, "set server web/x\\x0ay weight 1")["results"],
         ["server web/x\ny (127.0.0.1:6): weight 1 (was 0)"], "JSON keeps the name as it is")
    t.eq(admin_send(sock, "shutdown sessions server web/x\\x0ay"),
         "closed 0 sessions of web/x\\x0ay\n", "shutdown sessions: one line")
    ans = admin_send(sock, "set server web/\u65e5\u672c weight 0")
    t.check("weight 0" in ans, ans)
    ans = admin_send(sock, "set server web/a\\\\x20b state maint")
    t.check("server web/a\\\\x20b (127.0.0.1:4): state maint" in ans, ans)
    st = {s["server"]: s for s in admin_json(sock, "show servers web")["servers"]}
    t.eq((st["a b"]["admin"], st["a_b"]["admin"], st["a\\x20b"]["admin"]),
         ("drain", "ready", "maint"), "each name its own server")
    t.eq(st["\u65e5\u672c"]["weight"], 0)

    # Bash completion against this tcplb.
    bash = shutil.which("bash")
    if bash is None:
        t.fail("bash not installed")
    comp = os.path.join(os.environ.get("TCPLB_SRCDIR", "."), "contrib",
                        "bash-completion", "tcplb")
    script = r'''
# bash-completion's helper, reduced to what the script uses.
_init_completion() {
    words=("${COMP_WORDS[@]}"); cword=$COMP_CWORD
    cur=${COMP_WORDS[COMP_CWORD]}; prev=${COMP_WORDS[COMP_CWORD-1]}
}
_filedir() { :; }
complete() { :; }
source "$1"
for line in "set server" "shutdown sessions server" "show servers" "show sessions"; do
    read -ra w <<< "$line"
    COMP_WORDS=("$2" ctl -s "$3" "${w[@]}" "")
    COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
    _tcplb
    printf '%s\n' "${COMPREPLY[@]}"
    echo ---
done
'''
    r = subprocess.run([bash, "-c", script, "bash", comp, t.bin, sock],
                       capture_output=True, text=True, timeout=30, cwd=t.dir)
    t.log("completion output:\n" + r.stdout + r.stderr)
    t.check(not os.path.exists(marker) and not os.path.exists(marker + "2"),
            "completion executed a command found in a name")
    groups = r.stdout.split("---\n")
    set_server = groups[0].split("\n")
    # Each candidate, unquoted by the shell, is the name as listed.
    unq = subprocess.run([bash, "-c", 'for x in ' + " ".join(c for c in set_server if c) +
                          '; do printf "%s\\n" "$x"; done'],
                         capture_output=True, text=True, timeout=10, cwd=t.dir).stdout.split("\n")
    t.check(not os.path.exists(marker), "unquoting a candidate ran it")
    # As the text answers show them, which the admin socket takes back.
    odd = "%s/%s" % (evil_pool, evil_srv)
    t.check(odd in unq, "the odd names are offered as data: %r" % unq)
    ans = admin_send(sock, "set server %s state drain" % odd)
    t.check("state drain" in ans, "completed name refused: %r" % ans)
    t.check("web/a\\x20b" in unq and "web/a_b" in unq, "names offered: %r" % unq)


run(test)
