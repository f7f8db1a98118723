"""Command-line usage: errors exit 64 quoting the bad argument; -h, -V;
a missing configuration file is named in the message."""
import sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *


def version_from_configure(srcdir):
    try:
        with open(os.path.join(srcdir, "configure.ac")) as f:
            m = re.search(r"AC_INIT\(\[tcplb\],\s*\[([^\]]+)\]", f.read())
            return m.group(1) if m else None
    except OSError:
        return None


def test(t):
    # -h / --help
    for opt in ("-h", "--help"):
        rc, out, err = t.run_tcplb([opt], timeout=5)
        t.log(opt, "->", rc)
        t.eq(rc, 0, "exit status of tcplb %s" % opt)
        text = out + err
        t.check(re.search(r"usage", text, re.I), "%s output has no 'usage': %r" % (opt, text[:400]))
        for o in ("--config", "--check", "--listen", "--balance", "--workers", "--log-target"):
            t.check(o in text, "%s output does not mention %s" % (opt, o))
        t.check(out.strip() != "", "%s printed nothing on stdout (help belongs on stdout)" % opt)

    # -V / --version
    ver = version_from_configure(t.srcdir)
    for opt in ("-V", "--version"):
        rc, out, err = t.run_tcplb([opt], timeout=5)
        t.log(opt, "->", rc, repr(out.strip()))
        t.eq(rc, 0, "exit status of tcplb %s" % opt)
        t.check("tcplb" in out, "%s: stdout does not name tcplb: %r" % (opt, out))
        if ver:
            t.check(ver in out, "%s: stdout %r lacks version %s" % (opt, out, ver))

    # bad backends: exit 64, message quotes the argument
    for bad in ("nohost", "1.2.3.4:99999", "[::1:80", "127.0.0.1:", ":80",
                "127.0.0.1:0x50", "127.0.0.1:-1"):
        rc, out, err = t.run_tcplb([bad], timeout=15)
        t.log("backend %r -> %s %r" % (bad, rc, err.strip()[:200]))
        t.eq(rc, 64, "exit status for bad backend %r" % bad)
        t.check(bad in err, "stderr does not quote %r: %r" % (bad, err))
        t.check("listening on" not in out, "printed 'listening on' for bad backend %r" % bad)

    # a good backend next to a bad one still fails, naming the bad one
    rc, out, err = t.run_tcplb(["127.0.0.1:8080", "nohost"], timeout=15)
    t.eq(rc, 64, "exit status for good + bad backend")
    t.check("nohost" in err, "stderr does not quote 'nohost': %r" % err)

    # bad options: unknown, bad -b, bad -w, bad -l, bad --log-target
    rc, out, err = t.run_tcplb(["--no-such-option", "127.0.0.1:8080"], timeout=5)
    t.log("unknown option ->", rc, repr(err.strip()[:200]))
    t.eq(rc, 64, "exit status for an unknown option")
    t.check("no-such-option" in err, "stderr does not name the unknown option: %r" % err)
    rc, out, err = t.run_tcplb(["-x", "127.0.0.1:8080"], timeout=5)
    t.eq(rc, 64, "exit status for unknown option -x")
    for args, quoted in ((["-b", "bogusalg", "127.0.0.1:8080"], "bogusalg"),
                         (["-w", "zero", "127.0.0.1:8080"], "zero"),
                         (["-w", "-3", "127.0.0.1:8080"], "-3"),
                         (["-l", "notanaddress", "127.0.0.1:8080"], "notanaddress"),
                         (["--log-target", "nowhere", "127.0.0.1:8080"], "nowhere")):
        rc, out, err = t.run_tcplb(args, timeout=15)
        t.log(args, "->", rc, repr(err.strip()[:200]))
        t.eq(rc, 64, "exit status for %s" % args)
        t.check(quoted in err, "stderr for %s does not quote %r: %r" % (args, quoted, err))
    # an option missing its value
    rc, out, err = t.run_tcplb(["127.0.0.1:8080", "-b"], timeout=5)
    t.eq(rc, 64, "exit status for -b without a value")

    # -c with a missing file: exit 78 (invalid configuration) or 1, naming the file
    missing = t.path("does-not-exist.yaml")
    rc, out, err = t.run_tcplb(["-c", missing], timeout=5)
    t.log("-c missing ->", rc, repr(err.strip()[:200]))
    t.check(rc in (78, 1), "exit status for a missing config file: %r (want 78 or 1)" % rc)
    t.check(missing in err or "does-not-exist.yaml" in err,
            "stderr does not name the missing file: %r" % err)
    rc, out, err = t.run_tcplb(["-t", "-c", missing], timeout=5)
    t.check(rc in (78, 1), "exit status for -t with a missing config file: %r" % rc)
    t.check("does-not-exist.yaml" in err, "-t: stderr does not name the missing file: %r" % err)
    t.check("configuration OK" not in out + err, "-t said OK for a missing file")

    # no arguments at all: the default file (sysconfdir/tcplb.yaml) is read;
    # where it does not exist tcplb must fail with a message naming it
    # (never start serving nothing, never hang).
    if not any(os.path.exists(p) for p in ("/etc/tcplb.yaml", "/usr/local/etc/tcplb.yaml")):
        rc, out, err = t.run_tcplb([], timeout=5)
        t.log("no args ->", rc, repr(err.strip()[:200]))
        t.check(rc in (1, 64, 78), "exit status without arguments: %r" % rc)
        t.check("tcplb.yaml" in err, "without arguments: stderr does not name the default "
                "configuration file: %r" % err)
    else:
        t.log("a default tcplb.yaml exists here: not testing the no-argument case")


run(test)
