#!/bin/sh
# Build every libFuzzer target, then run each for a bounded time.
#
#   tests/fuzz/run.sh [SECONDS] [extra libFuzzer flags...]
#
# A target is any tests/fuzz/fuzz_NAME.c that has a seed directory
# tests/fuzz/corpus/NAME/ (and, optionally, a dictionary NAME.dict): drop
# both in and CI runs it, nothing to register.  Each target is linked
# against an archive of every src/*/*.c except main.c, so it pulls in only
# what it uses.
#
# SECONDS (default 60) is the run time of each fuzzer.  Environment:
#   CC        compiler (default clang; libFuzzer needs clang)
#   BUILD     build directory (default tests/fuzz/build, not committed)
#   TARGETS   which fuzzers to run (default: every target found)
#   JOBS      parallel libFuzzer workers per target (default 1)
#   NO_RUN=1  only build
#
# Built with -fsanitize=fuzzer,address,undefined straight from src/*/*.c (not
# via automake).  Resolution in the fuzzers is stubbed (resolv_stub.h): no
# DNS query leaves the machine.  New corpus entries go to BUILD/corpus-*;
# crashes, leaks and timeouts to BUILD/artifacts/.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
secs=${1:-60}
[ $# -gt 0 ] && shift
CC=${CC:-clang}
BUILD=${BUILD:-$here/build}
JOBS=${JOBS:-1}

mkdir -p "$BUILD/inc" "$BUILD/artifacts"

# A minimal autoconfig.h of our own, so the build works without ./configure
# and whatever ./configure last wrote.
cat > "$BUILD/inc/autoconfig.h" <<'EOH'
#define PACKAGE "tcplb"
#define PACKAGE_NAME "tcplb"
#define PACKAGE_VERSION "fuzz"
#define PACKAGE_STRING "tcplb fuzz"
#define SYSCONFDIR "/etc"
#ifndef _GNU_SOURCE
# define _GNU_SOURCE 1
#endif
EOH

CFLAGS="-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
-fno-sanitize-recover=undefined -D_GNU_SOURCE -I$BUILD/inc -I$top/src"
LDFLAGS="-fsanitize=fuzzer,address,undefined"
PKGS="yaml-0.1 libsystemd libev libcares openssl"
PKG_CFLAGS=$(pkg-config --cflags $PKGS 2>/dev/null || true)
PKG_LIBS=$(pkg-config --libs $PKGS 2>/dev/null || echo "-lyaml -lsystemd -lev -lcares -lssl -lcrypto")

# The library once, then one link per target.
mkdir -p "$BUILD/obj"
objs=""
for src in "$top"/src/*/*.c; do
	base=$(basename "$src" .c)
	[ "$base" = main ] && continue
	obj=$BUILD/obj/$base.o
	# shellcheck disable=SC2086
	$CC $CFLAGS $PKG_CFLAGS -c -o "$obj" "$src"
	objs="$objs $obj"
done
rm -f "$BUILD/libtcplb-fuzz.a"
# shellcheck disable=SC2086
ar rcs "$BUILD/libtcplb-fuzz.a" $objs

found=""
for f in "$here"/fuzz_*.c; do
	name=$(basename "$f" .c)
	[ -d "$here/corpus/${name#fuzz_}" ] || continue
	found="$found $name"
	echo "build: $BUILD/$name"
	# shellcheck disable=SC2086
	$CC $CFLAGS $PKG_CFLAGS $LDFLAGS -o "$BUILD/$name" "$f" \
	    "$BUILD/libtcplb-fuzz.a" $PKG_LIBS -lpthread -ldl
done
TARGETS=${TARGETS:-$found}

[ "${NO_RUN:-0}" = 1 ] && exit 0

status=0
for t in $TARGETS; do
	seeds=$here/corpus/${t#fuzz_}
	dict=$here/${t#fuzz_}.dict
	[ -d "$seeds" ] || { echo "unknown target $t (no $seeds)" >&2; exit 2; }
	dictopt=""
	[ -f "$dict" ] && dictopt="-dict=$dict"
	work=$BUILD/corpus-$t
	mkdir -p "$work"
	echo "run: $t for ${secs}s"
	par=""
	# -jobs sends each worker's output to fuzz-N.log in the current dir.
	[ "$JOBS" -gt 1 ] && par="-jobs=$JOBS -workers=$JOBS"
	# ASAN_OPTIONS: leaks are reported (detect_leaks=1 is the default on
	# Linux x86-64, made explicit here).
	# shellcheck disable=SC2086
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
	UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
	"$BUILD/$t" -max_total_time="$secs" -max_len=4096 -timeout=5 \
	    -rss_limit_mb=2048 $dictopt -print_final_stats=1 $par \
	    -artifact_prefix="$BUILD/artifacts/$t-" "$@" \
	    "$work" "$seeds" || status=$?
done
if ls "$BUILD/artifacts" | grep -q .; then
	echo "artifacts in $BUILD/artifacts:"
	ls -l "$BUILD/artifacts"
fi
exit $status
