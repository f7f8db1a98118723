#!/bin/sh
# Build the libFuzzer targets for the configuration loader, the address
# and duration parsers and the admin command parser, then run each for a bounded time.
#
#   tests/fuzz/run.sh [SECONDS] [extra libFuzzer flags...]
#
# SECONDS (default 60) is the run time of each fuzzer.  Environment:
#   CC        compiler (default clang; libFuzzer needs clang)
#   BUILD     build directory (default tests/fuzz/build, not committed)
#   TARGETS   which fuzzers to run (default "fuzz_config fuzz_addr fuzz_admin")
#   JOBS      parallel libFuzzer workers per target (default 1)
#   NO_RUN=1  only build
#
# Built with -fsanitize=fuzzer,address,undefined straight from src/*.c (not
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
TARGETS=${TARGETS:-"fuzz_config fuzz_addr fuzz_admin"}
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

CFLAGS="-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
-fno-sanitize-recover=undefined -D_GNU_SOURCE -I$BUILD/inc -I$top/src"
YAML_LIBS=$(pkg-config --libs yaml-0.1 2>/dev/null || echo -lyaml)
YAML_CFLAGS=$(pkg-config --cflags yaml-0.1 2>/dev/null || true)
# log.c sends to the journal.
SD_LIBS=$(pkg-config --libs libsystemd 2>/dev/null || echo -lsystemd)

CARES_LIBS=$(pkg-config --libs libcares 2>/dev/null || echo -lcares)

# What the loader links against: config* -> addr, duration, balance, gen,
# log (log_level_parse; pulls in libsystemd), util, queue (every pool has
# one), resolve_lookup (resolver addresses, c-ares); gen -> pool
# (server_state_adopted); pool -> balance.  resolve_sync.c is left out:
# resolv_stub.h replaces it so a fuzzed SRV name never sends a query.
CONFIG_SRCS="config.c config_yaml.c addr.c duration.c balance.c gen.c pool.c
log.c util.c queue.c resolve_lookup.c resolve_srv.c"
ADDR_SRCS="addr.c duration.c util.c"
ADMIN_SRCS="admin_cmd.c admin_fmt.c duration.c util.c"

build() {
	name=$1; shift
	srcs=""
	for s in "$@"; do srcs="$srcs $top/src/$s"; done
	echo "build: $BUILD/$name"
	# shellcheck disable=SC2086
	$CC $CFLAGS $YAML_CFLAGS -o "$BUILD/$name" $srcs "$here/$name.c" \
	    $YAML_LIBS $SD_LIBS $CARES_LIBS -ldl
}

build fuzz_config $CONFIG_SRCS
build fuzz_addr $ADDR_SRCS
build fuzz_admin $ADMIN_SRCS

[ "${NO_RUN:-0}" = 1 ] && exit 0

status=0
for t in $TARGETS; do
	case $t in
	fuzz_config) seeds=$here/corpus/config; dict=$here/config.dict ;;
	fuzz_addr) seeds=$here/corpus/addr; dict=$here/addr.dict ;;
	fuzz_admin) seeds=$here/corpus/admin; dict=$here/admin.dict ;;
	*) echo "unknown target $t" >&2; exit 2 ;;
	esac
	work=$BUILD/corpus-$t
	mkdir -p "$work"
	echo "run: $t for ${secs}s"
	# ASAN_OPTIONS: leaks are reported (detect_leaks=1 is the default on
	# Linux x86-64, made explicit here).
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
	UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
	par=""
	# -jobs sends each worker's output to fuzz-N.log in the current dir.
	[ "$JOBS" -gt 1 ] && par="-jobs=$JOBS -workers=$JOBS"
	# shellcheck disable=SC2086
	"$BUILD/$t" -max_total_time="$secs" -max_len=4096 -timeout=5 \
	    -rss_limit_mb=2048 -dict="$dict" -print_final_stats=1 $par \
	    -artifact_prefix="$BUILD/artifacts/$t-" "$@" \
	    "$work" "$seeds" || status=$?
done
if ls "$BUILD/artifacts" | grep -q .; then
	echo "artifacts in $BUILD/artifacts:"
	ls -l "$BUILD/artifacts"
fi
exit $status
