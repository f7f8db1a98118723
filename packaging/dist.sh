#!/bin/sh
# Make the `make dist` tarball of this source tree without touching it:
#   packaging/dist.sh WORKDIR
# copies the tree (git's tracked files plus new, not ignored ones, or all of
# it outside git) to WORKDIR/src, runs autoreconf, configure --disable-tests
# and make dist there, and prints the tarball's path. Logs go to WORKDIR.
set -eu
[ $# = 1 ] || { echo "usage: $0 WORKDIR" >&2; exit 64; }
top=$(cd "$(dirname "$0")/.." && pwd)
work=$1
mkdir -p "$work/src"
if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
	(cd "$top" && git ls-files -z --cached --others --exclude-standard |
		xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
		tar --null -T - -cf -) | tar -C "$work/src" -xf -
else
	(cd "$top" && tar --exclude=./deb-out --exclude=./rpm-out -cf - .) | tar -C "$work/src" -xf -
fi
cd "$work/src"
run() { # LOG CMD...
	log=$1; shift
	"$@" >"$work/$log" 2>&1 || { cat "$work/$log" >&2; echo "dist.sh: $* failed" >&2; exit 1; }
}
run autoreconf.log autoreconf -fi
# --disable-tests: `make dist` needs no cmocka.
run configure.log ./configure --disable-tests
run dist.log make dist
ls "$work"/src/tcplb-*.tar.gz | head -n 1
