"""Exit statuses and error listings agree with tcplb(8):
- `tcplb -t` prints every error (150 here), a start the first 100 and a
  count of the rest; both exit 78;
- an empty health_check send/expect is an error with FILE:LINE:COL;
- no configuration file (and no BACKEND) is 78, not a usage error;
- a quick-mode host name that does not resolve is 78 without a usage hint,
  a malformed BACKEND stays a usage error (64) with one."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *

HINT = "Try 'tcplb --help'"


def test(t):
    pools = "".join("  p%d: {servers: ['127.0.0.1:1'], bogus: 1}\n" % i for i in range(150))
    many = t.write("many.yaml", "listeners:\n  l: {bind: '127.0.0.1:0', pool: p0}\n"
                   "pools:\n" + pools)
    rc, out, err = t.run_tcplb(["-t", "-c", many])
    lines = re.findall(r"^.*many\.yaml:\d+:\d+: .*bogus.*$", err, re.M)
    t.log("-t: exit %d, %d error lines" % (rc, len(lines)))
    t.eq(rc, 78, "exit status of -t for an invalid file")
    t.eq(len(lines), 150, "errors printed by -t")
    t.check("more errors" not in err, "-t cut the list short")
    rc, out, err = t.run_tcplb(["-c", many, "--log-target", "stderr"])
    lines = re.findall(r"many\.yaml:\d+:\d+: .*bogus", err)
    t.log("start: exit %d, %d error lines" % (rc, len(lines)))
    t.eq(rc, 78, "exit status of a start with an invalid file")
    t.eq(len(lines), 100, "errors logged at start")
    t.check(re.search(r"\.\.\. and 50 more errors \(tcplb -t lists them all\)", err),
            "no count of the errors not logged: %r" % err[-300:])

    # an empty send or expect would make the check a plain connect
    text = """\
listeners:
  l: {bind: '127.0.0.1:0', pool: p}
pools:
  p:
    health_check: {send: "", expect: ''}
    servers: ['127.0.0.1:1']
"""
    empty = t.write("empty.yaml", text)
    rc, out, err = t.run_tcplb(["-t", "-c", empty])
    t.log("-t empty send/expect:", rc, err.strip())
    t.eq(rc, 78, "exit status for an empty send/expect")
    t.check(re.search(r"empty\.yaml:5:26: pools\.p\.health_check\.send: empty string", err),
            "no FILE:LINE:COL error for the empty send: %r" % err)
    t.check(re.search(r"empty\.yaml:5:38: pools\.p\.health_check\.expect: empty string", err),
            "no FILE:LINE:COL error for the empty expect: %r" % err)

    # no configuration file at all (only where the default one is absent)
    m = re.search(r"configuration file \(default (\S+)\)", t.run_tcplb(["-h"])[1])
    default = m.group(1) if m else None
    if default and not os.path.exists(default):
        for args in (["-t"], []):
            rc, out, err = t.run_tcplb(args)
            t.log(args, "without", default, "->", rc, err.strip())
            t.eq(rc, 78, "exit status of tcplb %s without a configuration file" % args)
            t.check(default in err, "the message does not name %s: %r" % (default, err))
            t.check(HINT not in err, "a missing file is not a usage error: %r" % err)
    else:
        t.log("default configuration file %s exists: not testing its absence" % default)

    # quick mode: a host that does not resolve vs. a malformed argument
    rc, out, err = t.run_tcplb(["nosuchhost.invalid:80"], timeout=15)
    t.log("unresolvable ->", rc, err.strip())
    t.eq(rc, 78, "exit status for a backend that does not resolve")
    t.check("nosuchhost.invalid" in err, "the message does not name the host: %r" % err)
    t.check(HINT not in err, "usage hint for a host that does not resolve: %r" % err)
    rc, out, err = t.run_tcplb(["-l", "nosuchhost.invalid:0", "127.0.0.1:1"], timeout=15)
    t.eq(rc, 78, "exit status for a listen host that does not resolve")
    t.check(HINT not in err, "usage hint for a listen host that does not resolve: %r" % err)
    rc, out, err = t.run_tcplb(["nohost"], timeout=15)
    t.eq(rc, 64, "exit status for a malformed backend")
    t.check(HINT in err, "no usage hint for a malformed backend: %r" % err)


run(test)
