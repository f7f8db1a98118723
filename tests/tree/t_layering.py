#!/usr/bin/env python3
"""The source tree keeps its layers (src/LAYERS), and the check that says
so can fail: an upward include, an include circle inside one folder, a
circle between folders and a folder missing from LAYERS are each caught,
with the file and line named."""
import os
import shutil
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
top = os.environ.get("TCPLB_SRCDIR", os.path.join(here, "..", ".."))
checker = os.path.join(top, "tests", "tree", "layering.py")
failures = 0
checks = 0


def run(src):
    p = subprocess.run([sys.executable, checker, src], capture_output=True,
                       text=True)
    return p.returncode, p.stdout


def expect(name, ok, detail):
    global failures, checks
    checks += 1
    print("%s: %s" % ("ok" if ok else "FAILED", name))
    if not ok:
        print(detail)
        failures += 1


def tree(files):
    d = tempfile.mkdtemp(prefix="tcplb-layering-")
    with open(os.path.join(d, "LAYERS"), "w") as f:
        f.write("# lowest first\nbase  # helpers\nrelay # data path\n"
                "service # top\n")
    for path, text in files.items():
        os.makedirs(os.path.dirname(os.path.join(d, path)), exist_ok=True)
        with open(os.path.join(d, path), "w") as f:
            f.write(text)
    return d


# The real tree passes.
rc, out = run(os.path.join(top, "src"))
expect("src/ keeps its layers", rc == 0, out)

good = {
    "base/util.h": "#include <stdlib.h>\n",
    "base/util.c": '#include "autoconfig.h"\n#include "base/util.h"\n',
    "relay/session.h": '#include "base/util.h"\n',
    "relay/session.c": '#include "relay/session.h"\n#include "base/util.h"\n',
    "service/main.c": '#include "relay/session.h"\n',
}
d = tree(good)
rc, out = run(d)
expect("a tree that points down passes", rc == 0, out)
shutil.rmtree(d)

bad = dict(good)
bad["base/util.c"] += '\n#include "relay/session.h"\n'
d = tree(bad)
rc, out = run(d)
expect("an upward include fails, naming file and line",
       rc == 1 and 'src/base/util.c:4: includes "relay/session.h"' in out, out)
expect("a circle between folders is reported",
       "include circle between folders: base -> relay" in out, out)
shutil.rmtree(d)

bad = dict(good)
bad["relay/relay.h"] = '#include "relay/session.h"\n'
bad["relay/session.h"] += '#include "relay/relay.h"\n'
d = tree(bad)
rc, out = run(d)
expect("a circle between two files of one folder fails",
       rc == 1 and "include circle between files: src/relay/relay -> "
       "src/relay/session" in out, out)
shutil.rmtree(d)

bad = dict(good)
bad["dgram/flow.c"] = '#include "base/util.h"\n'
d = tree(bad)
rc, out = run(d)
expect("a folder missing from LAYERS fails",
       rc == 1 and "folder dgram/ is not listed in src/LAYERS" in out, out)
shutil.rmtree(d)

print("%d passed, %d failed" % (checks - failures, failures))
sys.exit(1 if failures else 0)
