#!/bin/sh
# Build the tcplb RPM from this source tree with packaging/rpm/tcplb.spec,
# then report what rpmlint says.
#
#   packaging/build-rpm.sh [--nocheck] [--outdir DIR] [--tarball FILE]
#
# On Fedora/RHEL this is a plain `rpmbuild -bb`. On Debian (where CI runs) it
# checks the spec: rpmbuild runs with --nodeps (BuildRequires use Fedora's
# names) and with stand-ins for the systemd macros Debian's rpm lacks
# (packaging/rpm/macros.standin, loaded with --load); the result links
# Debian's libraries and is not meant to be installed anywhere.
#
#   --nocheck      skip `make check` (%check)
#   --outdir DIR   where the .rpm goes (default ./rpm-out); its path is the
#                  last line printed
#   --tarball F    package this `make dist` tarball instead of making one
#
# Exit status: 0 built and no rpmlint errors beyond those listed in
# packaging/rpm/rpmlint-debian.toml as artefacts of a Debian build host;
# 1 otherwise.
set -eu

PROG=build-rpm OUTDIR=rpm-out HELP=2,21
. "$(dirname "$0")/common.sh"
parse_build_args "$@"

top=$(cd "$(dirname "$0")/.." && pwd)
spec=$top/packaging/rpm/tcplb.spec
[ -f "$spec" ] || die "cannot find $spec"
mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
case $tarball in ''|/*) ;; *) tarball=$(pwd)/$tarball ;; esac

# On Debian: rpmbuild and rpmlint, plus what the build needs under Debian's
# names (rpmbuild --nodeps cannot check BuildRequires here).
debian=
[ -f /etc/debian_version ] && debian=1
if [ -n "$debian" ]; then
	need=
	command -v rpmbuild >/dev/null 2>&1 || need="$need rpm"
	command -v rpmlint >/dev/null 2>&1 || need="$need rpmlint"
	for p in autoconf automake make gcc pkg-config libev-dev libyaml-dev libsystemd-dev libc-ares-dev libssl-dev; do
		dpkg -s "$p" >/dev/null 2>&1 || need="$need $p"
	done
	if [ -z "$nocheck" ]; then
		for p in libcmocka-dev python3; do dpkg -s "$p" >/dev/null 2>&1 || need="$need $p"; done
	fi
	if [ -n "$need" ]; then
		[ "$(id -u)" = 0 ] || die "missing packages; install:$need"
		say "installing:$need"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $need >&2
	fi
fi
command -v rpmbuild >/dev/null 2>&1 || die "rpmbuild not found"

work=$(mktemp -d "${TMPDIR:-/tmp}/tcplb-rpm.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

if [ -z "$tarball" ]; then
	say "make dist (in a scratch copy of $top)"
	tarball=$("$top/packaging/dist.sh" "$work/dist") || die "make dist failed"
fi
[ -f "$tarball" ] || die "no tarball: $tarball"
version=$(basename "$tarball" .tar.gz)
version=${version#tcplb-}
spec_version=$(sed -n 's/^Version:[[:space:]]*//p' "$spec")
[ "$spec_version" = "$version" ] ||
	die "tcplb.spec has Version: $spec_version but the tarball is $version: update Version and %changelog"

mkdir -p "$work/rpmbuild/SOURCES"
cp "$tarball" "$work/rpmbuild/SOURCES/"

set -- -bb --define "_topdir $work/rpmbuild"
[ -n "$nocheck" ] && set -- "$@" --nocheck
if [ -n "$debian" ]; then
	# No debuginfo tooling (find-debuginfo) on Debian.
	# Debian's rpm runs brp-compress (bash code) with dash: run it with bash.
	set -- "$@" --nodeps --load "$top/packaging/rpm/macros.standin" \
		--define "debug_package %{nil}" --define "_build_id_links none" \
		--define "__brp_compress /bin/bash %{_rpmconfigdir}/brp-compress %{?_prefix}"
fi
say "rpmbuild $* $(basename "$spec")"
rpmbuild "$@" "$spec" >"$work/rpmbuild.log" 2>&1 || {
	tail -n 120 "$work/rpmbuild.log" >&2
	# Test logs are the interesting part of a failed %check.
	for f in "$work"/rpmbuild/BUILD/tcplb-*/tests/*/*.log; do
		[ -f "$f" ] && grep -q ':test-result: \(FAIL\|ERROR\)' "${f%.log}.trs" 2>/dev/null && { echo "==> $f" >&2; tail -n 60 "$f" >&2; }
	done
	die "rpmbuild failed (last 120 lines above)"
}
grep -h '^# \(TOTAL\|PASS\|FAIL\|SKIP\|XFAIL\|ERROR\)' "$work/rpmbuild.log" >&2 || true
rpm=$(find "$work/rpmbuild/RPMS" -name 'tcplb-[0-9]*.rpm' | head -n 1)
[ -n "$rpm" ] || die "rpmbuild made no tcplb-*.rpm"
cp "$rpm" "$outdir/"
rpm -qpl "$rpm" >&2

# ---- rpmlint ----------------------------------------------------------------
if command -v rpmlint >/dev/null 2>&1; then
	set --
	[ -n "$debian" ] && set -- -c "$top/packaging/rpm/rpmlint-debian.toml"
	say "rpmlint $* tcplb.spec $(basename "$rpm")"
	lint_rc=0
	rpmlint "$@" "$spec" "$rpm" >"$work/rpmlint.log" 2>&1 || lint_rc=$?
	cat "$work/rpmlint.log" >&2
	cp "$work/rpmlint.log" "$outdir/rpmlint.log"
	[ "$lint_rc" = 0 ] || die "rpmlint found errors (exit $lint_rc)"
else
	say "rpmlint not installed: skipped"
fi
echo "$outdir/$(basename "$rpm")"
