#!/bin/sh
# Build the tcplb .deb from this source tree, then check it with lintian.
#
#   packaging/build-deb.sh [--nocheck] [--outdir DIR] [--tarball FILE]
#                          [--version VERSION]
#
# Steps: `make dist` (in a scratch copy of the tree, so the working tree is not
# touched), unpack the tarball, copy packaging/debian in as ./debian, build with
# `dpkg-buildpackage -us -uc -b`, run `lintian --fail-on error`. The .deb lands
# in DIR (default ./deb-out); its path is the last line printed.
#
#   --nocheck      skip `make check` during the build (DEB_BUILD_OPTIONS=nocheck
#                  and the nocheck profile), e.g. when CI has already run it
#   --tarball F    package this `make dist` tarball instead of making one
#   --version V    add a changelog entry for Debian version V first (a newer
#                  package from the same tree, e.g. to test upgrades)
#
# Run as root on a fresh Debian 12 machine, missing tools and Build-Depends are
# installed with apt-get. Exit status: 0 built and lintian-clean, 1 otherwise.
set -eu

PROG=build-deb OUTDIR=deb-out HELP=2,20
. "$(dirname "$0")/common.sh"
parse_build_args "$@"

top=$(cd "$(dirname "$0")/.." && pwd)
[ -f "$top/configure.ac" ] && [ -d "$top/packaging/debian" ] || die "cannot find the source tree above $0"
mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
case $tarball in ''|/*) ;; *) tarball=$(pwd)/$tarball ;; esac

# ---- tools ------------------------------------------------------------------
need_pkgs=
for tool in dpkg-buildpackage:dpkg-dev dh:debhelper dh_autoreconf:dh-autoreconf \
	lintian:lintian autoreconf:autoconf automake:automake make:make gcc:build-essential \
	fakeroot:fakeroot pkg-config:pkg-config; do
	command -v "${tool%%:*}" >/dev/null 2>&1 || need_pkgs="$need_pkgs ${tool#*:}"
done
if [ -n "$need_pkgs" ]; then
	[ "$(id -u)" = 0 ] || die "missing tools; install:$need_pkgs"
	say "installing:$need_pkgs"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $need_pkgs >&2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/tcplb-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

# ---- make dist --------------------------------------------------------------
if [ -z "$tarball" ]; then
	say "make dist (in a scratch copy of $top)"
	tarball=$("$top/packaging/dist.sh" "$work/dist") || die "make dist failed"
fi
[ -f "$tarball" ] || die "no tarball: $tarball"

# ---- unpack, add debian/ ----------------------------------------------------
base=$(basename "$tarball" .tar.gz)
upstream_version=${base#tcplb-}
deb_version=${version:-$(dpkg-parsechangelog -l "$top/packaging/debian/changelog" -S Version)}
[ "${deb_version%-*}" = "$upstream_version" ] ||
	die "packaging/debian/changelog is at $deb_version but the tarball is $upstream_version: add a changelog entry (dch -v $upstream_version-1)"

mkdir "$work/deb"
cp "$tarball" "$work/deb/tcplb_$upstream_version.orig.tar.gz"
tar -C "$work/deb" -xzf "$tarball"
tree=$work/deb/$base
[ -d "$tree" ] || die "tarball does not unpack to $base/"
rm -rf "$tree/debian"
cp -R "$top/packaging/debian" "$tree/debian"
if [ -n "$version" ]; then
	{
		printf 'tcplb (%s) unstable; urgency=medium\n\n  * Rebuild as %s.\n\n' "$version" "$version"
		printf ' -- %s  %s\n\n' "$(dpkg-parsechangelog -l "$tree/debian/changelog" -S Maintainer)" "$(date -R)"
		cat "$top/packaging/debian/changelog"
	} >"$tree/debian/changelog"
fi

# ---- build dependencies -----------------------------------------------------
profiles=
if [ -n "$nocheck" ]; then
	export DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:+$DEB_BUILD_OPTIONS }nocheck"
	export DEB_BUILD_PROFILES="${DEB_BUILD_PROFILES:+$DEB_BUILD_PROFILES }nocheck"
	profiles=-Pnocheck
fi
case " ${DEB_BUILD_OPTIONS:-} " in
*" parallel="*) ;;
*) export DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:+$DEB_BUILD_OPTIONS }parallel=$(nproc 2>/dev/null || echo 2)" ;;
esac
if ! (cd "$tree" && dpkg-checkbuilddeps $profiles) >/dev/null 2>&1; then
	[ "$(id -u)" = 0 ] || { (cd "$tree" && dpkg-checkbuilddeps $profiles) || true; die "unmet build dependencies"; }
	say "installing Build-Depends"
	DEBIAN_FRONTEND=noninteractive apt-get build-dep -y -q $profiles "$tree" >&2
fi

# ---- build ------------------------------------------------------------------
say "dpkg-buildpackage -us -uc -b in $tree (DEB_BUILD_OPTIONS=$DEB_BUILD_OPTIONS)"
(cd "$tree" && dpkg-buildpackage -us -uc -b $profiles) >"$work/build.log" 2>&1 || {
	tail -n 150 "$work/build.log" >&2
	# Test logs are the interesting part of a failed `make check`.
	for f in "$tree"/tests/*/*.log; do
		[ -f "$f" ] && grep -q ':test-result: \(FAIL\|ERROR\)' "${f%.log}.trs" 2>/dev/null && { echo "==> $f" >&2; tail -n 60 "$f" >&2; }
	done
	die "dpkg-buildpackage failed (full log above, last 150 lines)"
}
grep -h 'PASSED\|^# \(TOTAL\|PASS\|FAIL\|SKIP\|XFAIL\|ERROR\)' "$work/build.log" >&2 || true

changes=$(ls "$work"/deb/tcplb_*.changes | head -n 1)
deb=$(ls "$work"/deb/tcplb_*.deb | grep -v dbgsym | head -n 1)

# ---- lintian ----------------------------------------------------------------
say "lintian $(basename "$changes")"
# Running as root only prints a warning; --fail-on error makes errors fatal,
# warnings and info are shown (and kept at zero with reasoned overrides).
lintian_rc=0
lintian --fail-on error --display-info --tag-display-limit 0 "$changes" >"$work/lintian.log" 2>&1 || lintian_rc=$?
grep -v '^running with root privileges' "$work/lintian.log" >&2 || true
cp "$work"/deb/*.deb "$work"/deb/*.changes "$work"/deb/*.buildinfo "$outdir"/ 2>/dev/null || true
cp "$work/lintian.log" "$outdir/lintian.log"
[ "$lintian_rc" = 0 ] || die "lintian found errors (exit $lintian_rc)"
say "lintian: $(grep -c '^E:' "$work/lintian.log" || true) errors, $(grep -c '^W:' "$work/lintian.log" || true) warnings, $(grep -c '^I:' "$work/lintian.log" || true) info"
echo "$outdir/$(basename "$deb")"
