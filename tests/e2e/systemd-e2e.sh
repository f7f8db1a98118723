#!/bin/bash
# End-to-end test of the tcplb Debian package under a real, booted systemd.
#
#   tests/e2e/systemd-e2e.sh [--deb FILE] [--keep] [--mirror URL]
#
# Builds the .deb (packaging/build-deb.sh --nocheck: CI has run the tests
# already), bootstraps a minimal Debian 12 root file system with mmdebstrap,
# boots it with systemd-nspawn (no host systemd needed: --register=no
# --keep-unit, in a cgroup of its own) and checks, inside:
#   1. dpkg -i installs, enables and starts tcplb (Type=notify: active only
#      after READY=1; the STATUS= text shows in systemctl status)
#   2. traffic reaches backends and is balanced round robin
#   3. reload switches to a new backend set, same MainPID, an open connection
#      keeps working
#   4. an invalid file + reload: still active and serving, FILE:LINE:COL in
#      journalctl -p err
#   5. access-log records carry TCPLB_* journal fields
#   6. systemd-analyze security <= 2.0, systemd-analyze verify is silent
#   7. unprivileged (not uid 0) yet bound to port 80
#   8. Restart=on-failure brings it back after SIGKILL; a restart with a
#      broken file fails at ExecStartPre, with FILE:LINE:COL in the journal
#   9. socket activation through the example tcplb.socket
#  admin: `tcplb ctl show servers` against the installed service (the packaged
#      file's /run/tcplb/admin.sock), `ctl check`, a /metrics scrape
#  10. systemctl stop is clean, dpkg --purge removes everything
# and the upgrade paths (a second .deb is built from the same tree with a
# bumped Debian version, a third is that one with a binary that exits at
# once), each under load (4 looping clients) with sessions held open:
#  11. dpkg -i of the newer package: 0 refused, 0 failed, 4/4 sessions kept,
#      the new build runs as MainPID (/proc/MAINPID/exe, tcplb -V)
#  12. systemctl restart: 0 refused, 0 failed (connections wait in the
#      queue of the sockets kept in systemd's fd store); a stop closes them
#  13. a package whose binary exits at once: dpkg -i fails loudly, the
#      running tcplb keeps serving; the good package then upgrades
#  14. an upgrade with an invalid /etc/tcplb.yaml: dpkg -i fails loudly,
#      the running tcplb keeps serving; fixed, dpkg --configure -a upgrades
#  15. an upgrade with tcplb.socket enabled: the socket stays active and its
#      socket is handed over
#  16. installing while 127.0.0.1:8080 is taken: the postinst says so and how
#      to fix it
#  17. a binary upgrade with global.metrics and admin_socket: /metrics scraped
#      and `ctl check` run throughout without a failure or a counter going
#      back; sessions held longer than shutdown_timeout survive and show in
#      the new process's `show info`
#  18. systemctl restart with 4096 sockets (FileDescriptorStoreMax), then a
#      restart after narrowing a bind from 0.0.0.0:P to 127.0.0.1:P
# Backends and clients are host python3 programs run in the container's
# network namespace (nsenter -n), so the container needs no python.
#
# Must run as root on Debian 12; missing tools are installed with apt-get.
# Everything (container, cgroups, root file system, backends) is removed on
# exit, also after a failure; --keep keeps the work directory for debugging.
# Prints one PASS/FAIL line per check, then "N passed, N failed" last.
# Exit status: 0 when every check passed, 1 otherwise.
#
#   --deb FILE     test this package instead of building one
#   --mirror URL   Debian mirror for the root file system
#                  (default $E2E_MIRROR or http://deb.debian.org/debian)
#   --keep         keep the work directory (root file system, logs)
# Environment: E2E_ROOTFS_CACHE=FILE.tar reuses a bootstrapped root file
# system between runs; E2E_MIRROR as --mirror.

set -u
export LC_ALL=C.UTF-8

t_start=$(date +%s)
top=$(cd "$(dirname "$0")/../.." && pwd)
deb=
keep=
mirror=${E2E_MIRROR:-http://deb.debian.org/debian}
while [ $# -gt 0 ]; do
	case $1 in
	--deb) deb=$(realpath "$2"); shift ;;
	--keep) keep=1 ;;
	--mirror) mirror=$2; shift ;;
	-h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
	*) echo "systemd-e2e: unknown argument: $1" >&2; exit 64 ;;
	esac
	shift
done

passed=0
failed=0
name=tcplb-e2e-$$
work=
nspawn_pid=
cpid=
bg_pids=

log() { echo "e2e: $*"; }
pass() { passed=$((passed + 1)); echo "PASS $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }

# ---- cleanup ------------------------------------------------------------------
cgroup_dirs() {
	local d
	for d in /sys/fs/cgroup/*/"$name" /sys/fs/cgroup/"$name"; do
		[ -d "$d" ] && echo "$d"
	done
}

cleanup() {
	local rc=$? i d
	trap - EXIT INT TERM
	set +e
	for i in $bg_pids; do kill "$i" 2>/dev/null; done
	if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
		[ -n "$cpid" ] && cexec systemctl poweroff >/dev/null 2>&1
		for i in $(seq 50); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.1; done
		# SIGTERM to nspawn halts the container too; SIGKILL is the last resort.
		kill -0 "$nspawn_pid" 2>/dev/null && kill -TERM "$nspawn_pid"
		for i in $(seq 50); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$nspawn_pid" 2>/dev/null && kill -KILL "$nspawn_pid"
	fi
	wait 2>/dev/null
	# Processes left in the container's cgroups (there should be none), then
	# the cgroups themselves, deepest first.
	for d in $(cgroup_dirs); do
		find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -KILL 2>/dev/null
	done
	for i in 1 2 3 4 5; do
		for d in $(cgroup_dirs); do find "$d" -depth -type d -exec rmdir {} + 2>/dev/null; done
		[ -z "$(cgroup_dirs)" ] && break
		sleep 0.2
	done
	[ -n "$(cgroup_dirs)" ] && echo "e2e: warning: cgroups left behind: $(cgroup_dirs | tr '\n' ' ')"
	if [ -n "$work" ] && [ -d "$work" ]; then
		if [ -n "$keep" ]; then
			log "kept $work"
		else
			# Never follow mounts a dead container might have left.
			umount -R "$work/root" 2>/dev/null
			rm -rf --one-file-system "$work"
		fi
	fi
	[ "$rc" = 0 ] || [ "$failed" -gt 0 ] || fail "aborted (exit $rc)"
	log "took $(( $(date +%s) - t_start )) s"
	echo "$passed passed, $failed failed"
	[ "$failed" = 0 ] || exit 1
	exit 0
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

die() { echo "e2e: $*" >&2; failed=$((failed + 1)); echo "FAIL setup: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"

# ---- tools ----------------------------------------------------------------------
need=
command -v systemd-nspawn >/dev/null || need="$need systemd-container"
command -v mmdebstrap >/dev/null || need="$need mmdebstrap"
command -v nsenter >/dev/null || need="$need util-linux"
command -v python3 >/dev/null || need="$need python3"
if [ -n "$need" ]; then
	log "installing:$need"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $need >/dev/null ||
		die "apt-get install$need failed"
fi
py=$(command -v python3)

work=$(mktemp -d "${TMPDIR:-/var/tmp}/tcplb-e2e.XXXXXX") || die "mktemp failed"
root=$work/root
mkdir -p "$work/debs"

# ---- the packages ---------------------------------------------------------
# The package under test, and a newer one from the same tree (a bumped Debian
# version: `tcplb -V` shows it) for the upgrade checks.
t=$(date +%s)
if [ -z "$deb" ]; then
	log "building the .deb (packaging/build-deb.sh --nocheck)"
	tarball=$("$top/packaging/dist.sh" "$work/dist" 2>"$work/dist.log") || {
		tail -n 40 "$work/dist.log"; die "packaging/dist.sh failed"; }
	"$top/packaging/build-deb.sh" --nocheck --tarball "$tarball" --outdir "$work/debs" >"$work/build-deb.log" 2>&1 || {
		tail -n 80 "$work/build-deb.log"; die "packaging/build-deb.sh failed"; }
	deb=$(tail -n 1 "$work/build-deb.log")
else
	cp "$deb" "$work/debs/" || die "cannot copy $deb"
	deb=$work/debs/$(basename "$deb")
	# A newer package from the same binary when no tree was built.
	tarball=
fi
[ -f "$deb" ] || die "no package: $deb"
v1=$(dpkg-deb -f "$deb" Version)
v2=$v1+upg1
v3=$v1+upg2
mkdir -p "$work/debs2" "$work/debs3" "$work/x"
if [ -n "$tarball" ]; then
	"$top/packaging/build-deb.sh" --nocheck --tarball "$tarball" --version "$v2" --outdir "$work/debs2" \
		>"$work/build-deb2.log" 2>&1 || { tail -n 80 "$work/build-deb2.log"; die "building $v2 failed"; }
	deb2=$(tail -n 1 "$work/build-deb2.log")
else
	dpkg-deb -R "$deb" "$work/x/2" && sed -i "s/^Version: .*/Version: $v2/" "$work/x/2/DEBIAN/control" &&
		dpkg-deb -b "$work/x/2" "$work/debs2/tcplb_${v2}_$(dpkg-deb -f "$deb" Architecture).deb" >/dev/null ||
		die "cannot repack $v2"
	deb2=$(ls "$work"/debs2/*.deb)
fi
# The broken build: passes `tcplb -t` (so the configuration check lets it
# through) and exits at once when started.
dpkg-deb -R "$deb2" "$work/x/3" || die "dpkg-deb -R failed"
printf '#!/bin/sh\n[ "$1" = -t ] && { echo "configuration OK"; exit 0; }\necho "tcplb: this build is broken" >&2\nexit 1\n' \
	>"$work/x/3/usr/sbin/tcplb"
sed -i "s/^Version: .*/Version: $v3/" "$work/x/3/DEBIAN/control"
(cd "$work/x/3" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | xargs -0 md5sum >DEBIAN/md5sums)
dpkg-deb -b "$work/x/3" "$work/debs3/tcplb_${v3}_broken.deb" >/dev/null || die "cannot build the broken package"
deb3=$work/debs3/tcplb_${v3}_broken.deb
cp "$deb2" "$deb3" "$work/debs/"
rm -rf "$work/x"
log "built $(basename "$deb"), $(basename "$deb2") and $(basename "$deb3") in $(( $(date +%s) - t )) s"

# Runtime dependencies go into the root file system at bootstrap time: the
# container has no network (--private-network), dpkg -i then works offline.
deps=$(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed -e 's/|.*//' -e 's/(.*)//' -e 's/[[:space:]]//g' |
	grep -v '^$' | tr '\n' ',')
deps=${deps%,}

# ---- root file system -----------------------------------------------------------
# E2E_ROOTFS_CACHE=FILE.tar keeps the bootstrapped tree between runs (it is
# remade when the package's dependencies change); unset, every run bootstraps.
t=$(date +%s)
cache=${E2E_ROOTFS_CACHE:-}
if [ -n "$cache" ] && [ -f "$cache" ] && [ "$(cat "$cache.deps" 2>/dev/null)" = "$deps $mirror" ]; then
	log "root file system from $cache"
	mkdir "$root" && tar -C "$root" -xf "$cache" || die "cannot unpack $cache"
else
	log "mmdebstrap bookworm (systemd,dbus,$deps) from $mirror"
	mmdebstrap --variant=minbase --include="systemd,dbus,$deps" \
		bookworm "$root" "deb $mirror bookworm main" </dev/null >"$work/mmdebstrap.log" 2>&1 || {
		tail -n 40 "$work/mmdebstrap.log"; die "mmdebstrap failed"; }
	if [ -n "$cache" ]; then
		tar -C "$root" -cf "$cache.tmp" . && mv "$cache.tmp" "$cache" && echo "$deps $mirror" >"$cache.deps"
	fi
fi
: >"$root/etc/machine-id"
log "root file system ready in $(( $(date +%s) - t )) s ($(du -sm "$root" | cut -f1) MB)"

# ---- boot -------------------------------------------------------------------------
# nspawn runs in a cgroup of its own, so the container's cgroups do not land
# in the host's root cgroup; cleanup removes it.
cg_enter() {
	local d
	if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
		mkdir -p "/sys/fs/cgroup/$name" && echo "$1" >"/sys/fs/cgroup/$name/cgroup.procs"
	else
		for d in systemd unified; do
			[ -d "/sys/fs/cgroup/$d" ] || continue
			mkdir -p "/sys/fs/cgroup/$d/$name" && echo "$1" >"/sys/fs/cgroup/$d/$name/cgroup.procs"
		done
	fi
}
nspawn_args=(-D "$root" -M "$name" --boot --register=no --keep-unit --private-network
	--console=pipe --link-journal=no --bind-ro="$work/debs:/debs")
if [ -d /run/systemd/system ] && command -v systemd-run >/dev/null; then
	# The host runs systemd (not our CI machines): let it make a delegated
	# scope for the container; systemd-run --scope execs nspawn in place.
	systemd-run --quiet --scope --unit="$name" -p Delegate=yes -- \
		systemd-nspawn "${nspawn_args[@]}" </dev/null >"$work/console.log" 2>&1 &
else
	(
		cg_enter "$BASHPID" || exit 1
		exec systemd-nspawn "${nspawn_args[@]}" </dev/null
	) >"$work/console.log" 2>&1 &
fi
nspawn_pid=$!

for i in $(seq 100); do
	cpid=$(pgrep -P "$nspawn_pid" -x systemd | head -n 1)
	[ -n "$cpid" ] && break
	kill -0 "$nspawn_pid" 2>/dev/null || break
	sleep 0.1
done
[ -n "$cpid" ] || { tail -n 30 "$work/console.log"; die "the container's systemd did not start"; }

# Run a command inside the container, with a clean environment.
# (Bounded: a command that hangs fails its check instead of the CI job.)
cexec() {
	timeout 150 nsenter -t "$cpid" -a -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 "$@"
}
# Run a host program in the container's network namespace.
cnet() {
	nsenter -t "$cpid" -n -- "$@"
}

state=
for i in $(seq 100); do
	state=$(cexec systemctl is-system-running --wait 2>/dev/null)
	case $state in running|degraded) break ;; esac
	sleep 0.1
done
case $state in
running) log "container booted (pid $cpid)" ;;
degraded) log "container booted degraded; failed units:"; cexec systemctl --failed --no-legend --plain ;;
*) tail -n 30 "$work/console.log"; die "container did not boot (state: ${state:-none})" ;;
esac

# ---- helpers ----------------------------------------------------------------------
# The host python helper: backends and clients (see its usage below).
cat >"$work/e2e.py" <<'PY'
import os, socket, sys, threading, time

def backend(port, name):
    # Greets each connection with "NAME\n", then echoes what it reads.
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", int(port)))
    srv.listen(64)
    def serve(c):
        try:
            c.sendall(name.encode() + b"\n")
            while True:
                b = c.recv(4096)
                if not b:
                    break
                c.sendall(b)
        except OSError:
            pass
        finally:
            c.close()
    while True:
        c, _ = srv.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()

def hello(port, timeout=3.0):
    # Connects, returns the backend's name ("" if none answered).
    s = socket.create_connection(("127.0.0.1", int(port)), timeout=timeout)
    try:
        f = s.makefile("rb")
        return f.readline().decode().strip()
    finally:
        s.close()

def probe(port, n):
    names = []
    for _ in range(int(n)):
        try:
            names.append(hello(port) or "-")
        except OSError as e:
            names.append("ERR:" + type(e).__name__)
    print(" ".join(names))

def wait_for(port, names, timeout):
    # Until a new connection is answered by one of NAMES (comma list).
    want = set(names.split(","))
    end = time.monotonic() + float(timeout)
    got = ""
    while time.monotonic() < end:
        try:
            got = hello(port, 1.0)
            if got in want:
                print(got)
                return 0
        except OSError as e:
            got = "ERR:" + type(e).__name__
        time.sleep(0.1)
    print("timeout, last answer: " + got)
    return 1

def hold(port, ctl):
    # Opens a connection, writes CTL/name, waits for CTL/go, then checks the
    # connection still echoes and writes CTL/result.
    s = socket.create_connection(("127.0.0.1", int(port)), timeout=5)
    f = s.makefile("rb")
    who = f.readline().decode().strip()
    with open(os.path.join(ctl, "name.tmp"), "w") as o:
        o.write(who + "\n")
    os.rename(os.path.join(ctl, "name.tmp"), os.path.join(ctl, "name"))
    end = time.monotonic() + 60
    while not os.path.exists(os.path.join(ctl, "go")) and time.monotonic() < end:
        time.sleep(0.05)
    try:
        s.sendall(b"still there?\n")
        echo = f.readline().decode().strip()
        result = "ok" if echo == "still there?" else "bad echo: %r" % echo
    except OSError as e:
        result = "error: %s" % e
    with open(os.path.join(ctl, "result"), "w") as o:
        o.write(result + "\n")
    s.close()

def load(port, ctl, nthreads):
    # Clients loop (connect, read the backend's name, close) until CTL/stop
    # exists, then write CTL/result: "OK REFUSED FAILED MAX_MS first errors".
    st = {"ok": 0, "refused": 0, "failed": 0, "max": 0.0}
    errs = []
    lock = threading.Lock()
    stop = os.path.join(ctl, "stop")
    end = time.monotonic() + 240
    def run():
        while not os.path.exists(stop) and time.monotonic() < end:
            t0 = time.monotonic()
            try:
                s = socket.create_connection(("127.0.0.1", int(port)), timeout=30)
            except ConnectionRefusedError:
                with lock:
                    st["refused"] += 1
                time.sleep(0.01)
                continue
            except OSError as e:
                with lock:
                    st["failed"] += 1
                    errs.append("connect: %r" % e)
                continue
            try:
                s.settimeout(30)
                name = s.makefile("rb").readline().decode().strip()
            except OSError as e:
                name = "ERR:%r" % e
            finally:
                s.close()
            with lock:
                if name and not name.startswith("ERR"):
                    st["ok"] += 1
                else:
                    st["failed"] += 1
                    errs.append(name or "closed without an answer")
                st["max"] = max(st["max"], time.monotonic() - t0)
            time.sleep(0.002)
    ths = [threading.Thread(target=run, daemon=True) for _ in range(int(nthreads))]
    for th in ths:
        th.start()
    open(os.path.join(ctl, "started"), "w").close()
    for th in ths:
        th.join()
    with open(os.path.join(ctl, "result.tmp"), "w") as o:
        o.write("%d %d %d %d %s\n" % (st["ok"], st["refused"], st["failed"],
                                      int(st["max"] * 1000), " | ".join(errs[:3])))
    os.rename(os.path.join(ctl, "result.tmp"), os.path.join(ctl, "result"))

def journal_fields(path):
    # Reads journalctl -o json lines; prints the TCPLB_* field names seen in
    # records that have both TCPLB_CLIENT and TCPLB_SERVER, and one example.
    import json
    names, example, n, access = set(), None, 0, 0
    for line in open(path, encoding="utf-8", errors="replace"):
        try:
            r = json.loads(line)
        except ValueError:
            continue
        if "TCPLB_CLIENT" in r and "TCPLB_SERVER" in r:
            n += 1
            names.update(k for k in r if k.startswith("TCPLB_"))
            is_access = r.get("TCPLB_EVENT") == "access"
            access += is_access
            # Show an access record of a relayed connection if there is one.
            good = is_access and r.get("TCPLB_SERVER", "-") != "-"
            if example is None or (good and not example.get("good")):
                example = {k: v for k, v in r.items() if k.startswith("TCPLB_") or k == "MESSAGE"}
                example["good"] = good
    print("%d records (%d TCPLB_EVENT=access) with" % (n, access), " ".join(sorted(names)))
    if example:
        del example["good"]
    print(json.dumps(example, sort_keys=True))
    return 0 if n else 1

def watch(mport, admin, ctl):
    # Until CTL/stop: scrape http://127.0.0.1:MPORT/metrics and send "check"
    # to the admin socket ADMIN (reached through /proc/CPID/root) in a
    # loop; write CTL/result: "SCRAPES CHECKS FAILURES BACKWARDS first errors"
    # (BACKWARDS: *_total samples that went down).
    import re, urllib.request
    st = {"scrapes": 0, "checks": 0, "fail": 0, "back": 0}
    errs, last = [], {}
    stop = os.path.join(ctl, "stop")
    open(os.path.join(ctl, "started"), "w").close()
    end = time.monotonic() + 240
    while not os.path.exists(stop) and time.monotonic() < end:
        try:
            body = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % mport, timeout=5).read().decode()
            for k, v in re.findall(r"^(tcplb_[a-z_]+_total(?:\{[^}]*\})?) (\d+)$", body, re.M):
                if int(v) < last.get(k, 0):
                    st["back"] += 1
                    errs.append("%s %d -> %s" % (k, last[k], v))
                last[k] = int(v)
            st["scrapes"] += 1
        except Exception as e:
            st["fail"] += 1
            errs.append("scrape: %r" % e)
        try:
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(5)
            s.connect(admin)
            s.sendall(b"check\n")
            ans = b""
            while True:
                b = s.recv(4096)
                if not b:
                    break
                ans += b
            s.close()
            if not ans.startswith(b"ok"):
                raise RuntimeError(ans[:80])
            st["checks"] += 1
        except Exception as e:
            st["fail"] += 1
            errs.append("check: %r" % e)
        time.sleep(0.02)
    with open(os.path.join(ctl, "result.tmp"), "w") as o:
        o.write("%d %d %d %d %s\n" % (st["scrapes"], st["checks"], st["fail"], st["back"],
                                      " | ".join(errs[:3])))
    os.rename(os.path.join(ctl, "result.tmp"), os.path.join(ctl, "result"))

cmd, args = sys.argv[1], sys.argv[2:]
sys.exit({"backend": backend, "probe": probe, "wait-for": wait_for, "hold": hold,
          "load": load, "journal-fields": journal_fields, "watch": watch}[cmd](*args) or 0)
PY

start_backend() { # PORT NAME
	# nsenter execs python: $! is the backend's pid, for cleanup.
	nsenter -t "$cpid" -n -- "$py" "$work/e2e.py" backend "$1" "$2" >>"$work/backends.log" 2>&1 &
	bg_pids="$bg_pids $!"
}
probe() { cnet "$py" "$work/e2e.py" probe "$@"; }
wait_for() { cnet "$py" "$work/e2e.py" wait-for "$@"; }
mainpid() { cexec systemctl show -p MainPID --value tcplb.service; }
prop() { cexec systemctl show -p "$1" --value tcplb.service; }
cfg() { cat >"$root/etc/tcplb.yaml"; }
# A config with one listener on 127.0.0.1:8080 and one on 127.0.0.1:80, both
# to the pool of the given servers.
cfg_pool() {
	{
		echo "listeners:"
		echo "  web:"
		echo "    bind: 127.0.0.1:8080"
		echo "    pool: app"
		echo "  low:"
		echo "    bind: 127.0.0.1:80"
		echo "    pool: app"
		echo "pools:"
		echo "  app:"
		echo "    balance: roundrobin"
		echo "    servers:"
		for s in "$@"; do echo "      - 127.0.0.1:$s"; done
	} | cfg
}
# journalctl inside, for the current boot only.
jctl() { cexec journalctl --no-pager -b "$@"; }

# Load: 4 clients looping on 127.0.0.1:8080 from load_start DIR until
# load_stop DIR, which prints "OK REFUSED FAILED MAX_MS errors...".
load_start() {
	local i
	rm -rf "$1"; mkdir -p "$1"
	nsenter -t "$cpid" -n -- "$py" "$work/e2e.py" load 8080 "$1" 4 >"$1/log" 2>&1 &
	bg_pids="$bg_pids $!"
	for i in $(seq 50); do [ -f "$1/started" ] && break; sleep 0.1; done
	sleep 0.5
}
load_stop() {
	local i
	touch "$1/stop"
	for i in $(seq 600); do [ -f "$1/result" ] && break; sleep 0.1; done
	cat "$1/result" 2>/dev/null || echo "? ? ? ? no result: $(cat "$1/log")"
}
# Held sessions: hold_start N opens N connections through 8080; hold_check
# N prints how many of them still echo, then closes them.
hold_start() {
	local i j
	for i in $(seq "$1"); do
		rm -rf "$work/held$i"; mkdir -p "$work/held$i"
		nsenter -t "$cpid" -n -- "$py" "$work/e2e.py" hold 8080 "$work/held$i" >"$work/held$i/log" 2>&1 &
		bg_pids="$bg_pids $!"
	done
	for i in $(seq "$1"); do
		for j in $(seq 50); do [ -f "$work/held$i/name" ] && break; sleep 0.1; done
	done
}
hold_check() {
	local i j n=0
	for i in $(seq "$1"); do touch "$work/held$i/go"; done
	for i in $(seq "$1"); do
		for j in $(seq 50); do [ -f "$work/held$i/result" ] && break; sleep 0.1; done
		[ "$(cat "$work/held$i/result" 2>/dev/null)" = ok ] && n=$((n + 1))
	done
	echo "$n"
}
# Watch: /metrics on 127.0.0.1:9100 and `check` on /run/tcplb/admin.sock in a
# loop from watch_start DIR until watch_stop DIR, which prints
# "SCRAPES CHECKS FAILURES BACKWARDS errors...".
watch_start() {
	local i
	rm -rf "$1"; mkdir -p "$1"
	nsenter -t "$cpid" -n -- "$py" "$work/e2e.py" watch 9100 "/proc/$cpid/root/run/tcplb/admin.sock" "$1" >"$1/log" 2>&1 &
	bg_pids="$bg_pids $!"
	for i in $(seq 50); do [ -f "$1/started" ] && break; sleep 0.1; done
	sleep 0.5
}
watch_stop() { load_stop "$1"; }
# A pid still running inside the container?
calive() { cexec kill -0 "$1" 2>/dev/null; }
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

# ================================================================================
# 1. install
# ================================================================================
check1() {
	local out errs=
	out=$(cexec dpkg -i "/debs/$(basename "$deb")" 2>&1) || { echo "$out"; errs="$errs dpkg-i"; }
	[ "$(cexec systemctl is-enabled tcplb.service)" = enabled ] || errs="$errs not-enabled"
	[ "$(cexec systemctl is-active tcplb.service)" = active ] || errs="$errs not-active"
	# Type=notify: systemd only counts the unit as started (and `systemctl
	# start` in the postinst only returns) after READY=1, so the listener of
	# the packaged file must accept at once.
	[ "$(prop Type)" = notify ] || errs="$errs type=$(prop Type)"
	local bind port
	bind=$(sed -n 's/^[[:space:]]*bind:[[:space:]]*"\{0,1\}\([^"#[:space:]]*\).*/\1/p' "$root/etc/tcplb.yaml" | head -n 1)
	port=${bind##*:}
	if [ -n "$port" ]; then
		# A reset counts as accepting: with no backend up, tcplb accepts
		# and resets the client, sometimes before connect() returns.
		cnet "$py" -c "import socket
try:
    socket.create_connection(('127.0.0.1', $port), timeout=2).close()
except ConnectionResetError:
    pass" 2>/dev/null ||
			errs="$errs listener-$bind-not-accepting"
	fi
	# ... and systemd logged "Started" only after tcplb logged its listener.
	local jl l_listen l_started
	jl=$(jctl -u tcplb -o cat)
	l_listen=$(echo "$jl" | grep -n -m1 'listening on' | cut -d: -f1)
	l_started=$(echo "$jl" | grep -n -m1 '^Started tcplb' | cut -d: -f1)
	[ -n "$l_listen" ] && [ -n "$l_started" ] && [ "$l_listen" -lt "$l_started" ] ||
		errs="$errs journal-order(listening:${l_listen:-none},started:${l_started:-none})"
	local status
	[ -n "$(prop StatusText)" ] || errs="$errs no-STATUS"
	# (tcplb refreshes STATUS= every few seconds: read it from the output.)
	cexec systemctl status --no-pager tcplb.service >"$work/status.txt" 2>&1
	status=$(sed -n 's/^ *Status: "\(.*\)"$/\1/p' "$work/status.txt")
	[ -n "$status" ] || errs="$errs status-not-shown"
	if [ -z "$errs" ]; then
		pass "1 install: dpkg -i enabled and started tcplb (Type=notify, listener $bind up at READY); status: \"$status\""
	else
		cat "$work/status.txt"; jctl -u tcplb --no-hostname | tail -n 20
		fail "1 install:$errs"
	fi
}

# ================================================================================
# 2. balancing
# ================================================================================
check2() {
	local errs= seq
	start_backend 9101 A
	start_backend 9102 B
	start_backend 9103 C
	cfg_pool 9101 9102
	cexec systemctl reload tcplb.service || errs="$errs reload-failed"
	# `systemctl reload` returns when kill(1) has sent SIGHUP; the swap follows.
	wait_for 8080 A,B 10 >/dev/null || errs="$errs new-config-not-active"
	seq=$(probe 8080 6)
	case $seq in
	"A B A B A B"|"B A B A B A") ;;
	*) errs="$errs not-round-robin" ;;
	esac
	if [ -z "$errs" ]; then
		pass "2 balance: 6 connections via 127.0.0.1:8080 answered by: $seq"
	else
		jctl -u tcplb | tail -n 20
		fail "2 balance:$errs (answers: $seq)"
	fi
}

# ================================================================================
# 3. reload to a new backend set with a connection open
# ================================================================================
check3() {
	local errs= pid0 pid1 ctl=$work/hold seq holder i
	mkdir -p "$ctl"
	pid0=$(mainpid)
	nsenter -t "$cpid" -n -- "$py" "$work/e2e.py" hold 8080 "$ctl" >"$work/hold.log" 2>&1 &
	holder=$!
	bg_pids="$bg_pids $holder"
	for i in $(seq 50); do [ -f "$ctl/name" ] && break; sleep 0.1; done
	[ -f "$ctl/name" ] || errs="$errs hold-not-connected"
	cfg_pool 9103
	cexec systemctl reload tcplb.service || errs="$errs reload-failed"
	wait_for 8080 C 10 >/dev/null || errs="$errs new-backend-not-used"
	seq=$(probe 8080 4)
	[ "$seq" = "C C C C" ] || errs="$errs still-old-backends"
	pid1=$(mainpid)
	[ "$pid0" = "$pid1" ] || errs="$errs mainpid-changed($pid0->$pid1)"
	[ "$(cexec systemctl is-active tcplb.service)" = active ] || errs="$errs not-active"
	touch "$ctl/go"
	wait "$holder"
	[ "$(cat "$ctl/result" 2>/dev/null)" = ok ] || errs="$errs open-connection:$(cat "$ctl/result" "$work/hold.log" 2>/dev/null | tr '\n' ' ')"
	if [ -z "$errs" ]; then
		pass "3 reload: A,B -> C, MainPID $pid0 unchanged, connection to $(cat "$ctl/name") opened before the reload still echoes; new: $seq"
	else
		jctl -u tcplb | tail -n 20
		fail "3 reload:$errs"
	fi
}

# ================================================================================
# 4. invalid file + reload
# ================================================================================
check4() {
	local errs= pid0 pid1 errlog i status
	pid0=$(mainpid)
	cp "$root/etc/tcplb.yaml" "$work/good.yaml"
	# Line 4, column 5: a key tcplb does not know.
	cfg <<-'EOF'
	listeners:
	  web:
	    bind: 127.0.0.1:8080
	    no_such_key: 1
	    pool: app
	pools:
	  app:
	    servers:
	      - 127.0.0.1:9101
	EOF
	cexec systemctl reload tcplb.service || errs="$errs reload-command-failed"
	errlog=
	for i in $(seq 50); do
		errlog=$(jctl -u tcplb -p err --no-hostname -o cat)
		echo "$errlog" | grep -q 'tcplb\.yaml:[0-9]' && break
		sleep 0.1
	done
	echo "$errlog" | grep -q '/etc/tcplb\.yaml:4:5' || errs="$errs no-/etc/tcplb.yaml:4:5-in-journal-p-err"
	[ "$(cexec systemctl is-active tcplb.service)" = active ] || errs="$errs not-active"
	pid1=$(mainpid)
	[ "$pid0" = "$pid1" ] || errs="$errs mainpid-changed"
	local seq
	seq=$(probe 8080 2)
	[ "$seq" = "C C" ] || errs="$errs not-serving-old-config($seq)"
	status=$(prop StatusText)
	# Restore the good file (and check the error status clears).
	cfg <"$work/good.yaml"
	cexec systemctl reload tcplb.service
	if [ -z "$errs" ]; then
		pass "4 invalid reload: still active and serving ($seq), journal -p err: $(echo "$errlog" | grep -m1 'tcplb\.yaml:'); STATUS: \"$status\""
	else
		echo "journalctl -u tcplb -p err:"; echo "$errlog" | tail -n 10
		fail "4 invalid reload:$errs"
	fi
}

# ================================================================================
# 5. access log in the journal
# ================================================================================
check5() {
	local out= i ok=
	probe 8080 2 >/dev/null
	# Records are written when a client connection ends; give journald a moment.
	for i in $(seq 30); do
		jctl -u tcplb -o json >"$work/journal.json" 2>/dev/null
		out=$("$py" "$work/e2e.py" journal-fields "$work/journal.json") && { ok=1; break; }
		sleep 0.1
	done
	if [ -n "$ok" ]; then
		pass "5 access log: $(echo "$out" | head -n 1); e.g. $(echo "$out" | tail -n 1)"
	else
		jctl -u tcplb -o verbose | tail -n 40
		fail "5 access log: no journal record with TCPLB_CLIENT and TCPLB_SERVER"
	fi
}

# ================================================================================
# 6. systemd-analyze security / verify
# ================================================================================
check6() {
	local out score
	out=$(cexec systemd-analyze security --no-pager tcplb.service 2>&1)
	score=$(echo "$out" | sed -n 's/.*Overall exposure level for tcplb.service: \([0-9.]*\).*/\1/p')
	if [ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'; then
		pass "6 security: systemd-analyze security tcplb.service = $score ($(echo "$out" | tail -n 1 | sed 's/.*: [0-9.]* //'))"
	else
		echo "$out" | grep -v '✓'
		fail "6 security: score ${score:-unknown} > 2.0"
	fi
	# The root file system has no man(1), so skip the Documentation= man check.
	out=$(cexec systemd-analyze verify --man=no tcplb.service tcplb.socket 2>&1)
	if [ -z "$out" ]; then
		pass "6 verify: systemd-analyze verify tcplb.service tcplb.socket prints nothing"
	else
		echo "$out"
		fail "6 verify: systemd-analyze verify complained"
	fi
}

# ================================================================================
# 7. unprivileged, yet on port 80
# ================================================================================
check7() {
	local errs= pid uid capeff user seq
	pid=$(mainpid)
	# MainPID is a pid in the container's pid namespace: read /proc inside.
	user=$(cexec ps -o user= -p "$pid" 2>/dev/null | tr -d ' ')
	uid=$(cexec awk '/^Uid:/ { print $2 }' "/proc/$pid/status")
	capeff=$(cexec awk '/^CapEff:/ { print $2 }' "/proc/$pid/status")
	[ -n "$uid" ] && [ "$uid" != 0 ] || errs="$errs uid=$uid"
	# CAP_NET_BIND_SERVICE is bit 10: 0x400, and nothing else.
	[ "$capeff" = 0000000000000400 ] || errs="$errs CapEff=$capeff"
	seq=$(probe 80 2)
	case $seq in C\ C) ;; *) errs="$errs port-80($seq)" ;; esac
	if [ -z "$errs" ]; then
		pass "7 privileges: runs as dynamic user ${user:-?} (uid $uid, CapEff $capeff = cap_net_bind_service) and serves 127.0.0.1:80 ($seq)"
	else
		fail "7 privileges:$errs"
	fi
}

# ================================================================================
# 8. Restart=on-failure
# ================================================================================
check8() {
	local errs= pid0 pid1 i
	pid0=$(mainpid)
	cexec systemctl kill -s KILL tcplb.service
	pid1=$pid0
	for i in $(seq 100); do
		pid1=$(mainpid)
		[ "$pid1" != "$pid0" ] && [ "$pid1" != 0 ] && [ "$(cexec systemctl is-active tcplb.service)" = active ] && break
		sleep 0.1
	done
	[ "$pid1" != "$pid0" ] && [ "$pid1" != 0 ] || errs="$errs not-restarted"
	[ "$(cexec systemctl is-active tcplb.service)" = active ] || errs="$errs not-active"
	probe 8080 1 | grep -qx C || errs="$errs not-serving"
	# A restart with a broken file fails at ExecStartPre (tcplb -t, exit 78)
	# with FILE:LINE:COL in the journal; fixed, it starts again.
	local result errline
	cp "$root/etc/tcplb.yaml" "$work/good.yaml"
	printf 'listeners:\n  web: {bind: 127.0.0.1:8080, pool: nowhere}\n' | cfg
	cexec systemctl restart tcplb.service 2>/dev/null && errs="$errs restart-with-broken-file-succeeded"
	result="$(prop Result) $(cexec systemctl is-active tcplb.service)"
	errline=$(jctl -u tcplb -o cat | grep -m1 '/etc/tcplb\.yaml:2:[0-9]')
	[ -n "$errline" ] || errs="$errs broken:no-/etc/tcplb.yaml:2:COL-in-journal"
	jctl -u tcplb -p err -o cat | grep -q '/etc/tcplb\.yaml:2:[0-9]' ||
		log "note: tcplb -t's errors are in the journal, but not at priority err (journalctl -p err misses them)"
	cfg <"$work/good.yaml"
	cexec systemctl reset-failed tcplb.service
	cexec systemctl restart tcplb.service || errs="$errs start-after-fix-failed"
	probe 8080 1 | grep -qx C || errs="$errs not-serving-after-fix"
	if [ -z "$errs" ]; then
		pass "8 restart: SIGKILL'd MainPID $pid0, restarted as $pid1, serving; restart with a broken file failed ($result: $errline), fixed it starts"
	else
		jctl -u tcplb | tail -n 20
		fail "8 restart:$errs"
	fi
}

# ================================================================================
# 9. socket activation with the example tcplb.socket
# ================================================================================
check9() {
	local errs= seq got
	cexec systemctl stop tcplb.service
	# The example listens on 127.0.0.1:8080, the `bind` of listener web.
	cexec systemctl enable --now tcplb.socket >/dev/null 2>&1 || errs="$errs enable-socket-failed"
	[ "$(cexec systemctl is-active tcplb.service)" = inactive ] || errs="$errs service-not-inactive"
	# The first connection waits in the socket's backlog while systemd starts
	# the service, which takes the socket over.
	seq=$(probe 8080 2)
	[ "$seq" = "C C" ] || errs="$errs not-served-by-activation($seq)"
	[ "$(cexec systemctl is-active tcplb.service)" = active ] || errs="$errs service-not-activated"
	# tcplb logs the socket it was passed, and warns if no listener took it.
	got=$(jctl -u tcplb -o cat | grep -c "systemd passed socket .* bound to 127.0.0.1:8080")
	[ "$got" -ge 1 ] || errs="$errs no-'systemd passed socket'-log"
	unused=$(jctl -u tcplb -o cat | grep -c 'matches no listener')
	[ "$unused" -eq 0 ] || errs="$errs passed-socket-not-adopted"
	# Left enabled and listening: purge (check 10) must stop and unlink it.
	if [ -z "$errs" ]; then
		pass "9 socket activation: tcplb.socket started tcplb.service on the first connection ($seq), which took over the socket"
	else
		jctl -u tcplb -u tcplb.socket | tail -n 20
		fail "9 socket activation:$errs"
	fi
}

# ================================================================================
# 10. stop, purge
# ================================================================================
check10() {
	local errs= out t0 t1
	t0=$(date +%s%N)
	# (systemctl warns that tcplb.socket can still start it: expected here.)
	out=$(cexec systemctl stop tcplb.service 2>&1) || { echo "$out"; errs="$errs stop-failed"; }
	t1=$(date +%s%N)
	[ "$(cexec systemctl is-active tcplb.service)" = inactive ] || errs="$errs not-inactive"
	[ "$(prop Result)" = success ] || errs="$errs Result=$(prop Result)"
	[ "$(prop ExecMainStatus)" = 0 ] || errs="$errs ExecMainStatus=$(prop ExecMainStatus)"
	out=$(cexec dpkg --purge tcplb 2>&1) || { echo "$out"; errs="$errs purge-failed"; }
	for f in /usr/sbin/tcplb /etc/tcplb.yaml /lib/systemd/system/tcplb.service \
		/lib/systemd/system/tcplb.socket /etc/systemd/system/multi-user.target.wants/tcplb.service \
		/etc/systemd/system/sockets.target.wants/tcplb.socket; do
		[ -e "$root$f" ] || [ -L "$root$f" ] && errs="$errs left:$f"
	done
	cexec dpkg -s tcplb >/dev/null 2>&1 && errs="$errs still-installed"
	[ "$(cexec systemctl is-active tcplb.socket)" = active ] && errs="$errs socket-still-active"
	probe 8080 1 | grep -q '^ERR:' || errs="$errs port-8080-still-open"
	if [ -z "$errs" ]; then
		pass "10 stop+purge: stopped in $(( (t1 - t0) / 1000000 )) ms with status 0, purge stopped the socket and removed binary, units, conffile and enablement links"
	else
		jctl -u tcplb | tail -n 20
		fail "10 stop+purge:$errs"
	fi
}

# ================================================================================
# 11. package upgrade under load, sessions held
# ================================================================================
cfg_upgrade() {
	cfg <<-'EOF'
	global:
	  shutdown_timeout: 5s
	listeners:
	  web:
	    bind: 127.0.0.1:8080
	    pool: app
	  low:
	    bind: 127.0.0.1:80
	    pool: app
	pools:
	  app:
	    servers:
	      - 127.0.0.1:9103
	EOF
}
check11() {
	local errs= pid0 pid1 res out t0 took kept exe ver i
	cfg_upgrade
	cexec systemctl reload tcplb.service
	wait_for 8080 C 10 >/dev/null || errs="$errs not-serving-before"
	pid0=$(mainpid)
	hold_start 4
	load_start "$work/load11"
	t0=$(date +%s%N)
	out=$(cexec dpkg -i "/debs/$(basename "$deb2")" 2>&1) || errs="$errs dpkg-i-failed"
	took=$(ms_since "$t0")
	sleep 1		# load on the new process too
	res=$(load_stop "$work/load11")
	kept=$(hold_check 4)
	pid1=$(mainpid)
	exe=$(cexec readlink "/proc/$pid1/exe")
	ver=$(cexec "/proc/$pid1/exe" -V)
	[ "$pid1" != "$pid0" ] && [ "$pid1" != 0 ] || errs="$errs MainPID-unchanged($pid0)"
	[ "$exe" = /usr/sbin/tcplb ] || errs="$errs exe=$exe"
	case $ver in *"($v2)"*) ;; *) errs="$errs version=$ver" ;; esac
	[ "$(cexec systemctl is-active tcplb.service)" = active ] || errs="$errs not-active"
	set -- $res
	[ "$2" = 0 ] || errs="$errs refused=$2"
	[ "$3" = 0 ] || errs="$errs failed=$3"
	[ "$kept" = 4 ] || errs="$errs kept=$kept/4"
	# The old process drains, then exits once its sessions have ended.
	for i in $(seq 100); do calive "$pid0" || break; sleep 0.1; done
	calive "$pid0" && errs="$errs old-$pid0-still-running"
	echo "$out" | grep -q "upgraded without interruption" || errs="$errs no-postinst-message"
	if [ -z "$errs" ]; then
		pass "11 upgrade: dpkg -i $v1 -> $v2 in $took ms under load: $1 ok, $2 refused, $3 failed (slowest ${4} ms), $kept/4 sessions kept; MainPID $pid0 -> $pid1 runs $exe ($ver)"
	else
		echo "$out"; jctl -u tcplb | tail -n 30
		fail "11 upgrade:$errs (load: $res)"
	fi
}

# ================================================================================
# 12. systemctl restart under load
# ================================================================================
check12() {
	local errs= pid0 pid1 res t0 took kept
	pid0=$(mainpid)
	hold_start 1		# makes the stop drain for shutdown_timeout (5s)
	load_start "$work/load12"
	t0=$(date +%s%N)
	cexec systemctl restart tcplb.service || errs="$errs restart-failed"
	took=$(ms_since "$t0")
	sleep 1
	res=$(load_stop "$work/load12")
	kept=$(hold_check 1)
	pid1=$(mainpid)
	[ "$pid1" != "$pid0" ] || errs="$errs MainPID-unchanged"
	[ "$(cexec systemctl is-active tcplb.service)" = active ] || errs="$errs not-active"
	set -- $res
	[ "$2" = 0 ] || errs="$errs refused=$2"
	[ "$3" = 0 ] || errs="$errs failed=$3"
	jctl -u tcplb -o cat | grep -q "systemd passed socket .*'tcplb-L-" || errs="$errs fd-store-not-used"
	# A stop is a real stop: systemd closes the stored sockets.
	cexec systemctl stop tcplb.service
	probe 8080 1 | grep -qx 'ERR:ConnectionRefusedError' || errs="$errs 8080-open-after-stop"
	probe 80 1 | grep -qx 'ERR:ConnectionRefusedError' || errs="$errs 80-open-after-stop"
	cexec systemctl start tcplb.service || errs="$errs start-failed"
	if [ -z "$errs" ]; then
		pass "12 restart: systemctl restart in $took ms under load: $1 ok, $2 refused, $3 failed (slowest ${4} ms: clients waited in the accept queue); $kept/1 held session kept (a restart drains for shutdown_timeout); systemctl stop closed the stored sockets"
	else
		jctl -u tcplb | tail -n 30
		fail "12 restart:$errs (load: $res)"
	fi
}

# ================================================================================
# 17. binary upgrade with global.metrics and admin_socket, scraped and checked
#     throughout, with sessions held longer than shutdown_timeout (issue 20)
# ================================================================================
check17() {
	local errs= pid0 pid1 res w kept t0 took i info
	start_backend 9117 W
	cfg <<-'EOF'
	global:
	  shutdown_timeout: 2s
	  admin_socket: /run/tcplb/admin.sock
	  metrics: 127.0.0.1:9100
	listeners:
	  web:
	    bind: 127.0.0.1:8080
	    pool: app
	pools:
	  app:
	    servers:
	      - {address: 127.0.0.1:9117, name: w}
	EOF
	cexec systemctl restart tcplb.service || errs="$errs restart-failed"
	wait_for 8080 W 10 >/dev/null || errs="$errs not-serving-before"
	pid0=$(mainpid)
	hold_start 2
	watch_start "$work/watch17"
	load_start "$work/load17"
	t0=$(date +%s%N)
	cexec /usr/libexec/tcplb/tcplb-upgrade >"$work/upgrade17.log" 2>&1 || errs="$errs tcplb-upgrade-failed"
	took=$(ms_since "$t0")
	sleep 5		# the held sessions outlive shutdown_timeout (2s)
	info=$(cexec tcplb ctl show info 2>&1)
	echo "$info" | grep -q "^draining processes: 1$" || errs="$errs old-process-not-in-show-info"
	echo "$info" | grep -q "^active connections, all processes: [2-9]" || errs="$errs held-sessions-not-counted"
	res=$(load_stop "$work/load17")
	w=$(watch_stop "$work/watch17")
	kept=$(hold_check 2)
	pid1=$(mainpid)
	[ "$pid1" != "$pid0" ] && [ "$pid1" != 0 ] || errs="$errs MainPID-unchanged"
	[ "$(cexec systemctl is-active tcplb.service)" = active ] || errs="$errs not-active"
	[ "$kept" = 2 ] || errs="$errs kept=$kept/2"
	set -- $w
	[ "${1:-0}" -gt 10 ] && [ "${2:-0}" -gt 10 ] || errs="$errs watch-did-not-run($w)"
	[ "${3:-1}" = 0 ] || errs="$errs scrape-or-check-failures($w)"
	[ "${4:-1}" = 0 ] || errs="$errs counters-went-back($w)"
	set -- $res
	[ "$2" = 0 ] && [ "$3" = 0 ] || errs="$errs load:refused=$2,failed=$3"
	for i in $(seq 50); do calive "$pid0" || break; sleep 0.1; done
	calive "$pid0" && errs="$errs old-$pid0-still-running"
	cexec tcplb ctl show info | grep -q "^draining processes: 0$" || errs="$errs old-process-still-listed"
	cexec test -S /run/tcplb/admin.sock || errs="$errs admin-socket-gone"
	cexec test -e "/run/tcplb/admin.sock.$pid0" && errs="$errs old-per-process-socket-left"
	if [ -z "$errs" ]; then
		pass "17 upgrade with metrics+admin: tcplb-upgrade in $took ms; $(echo "$w" | cut -d' ' -f1) scrapes and $(echo "$w" | cut -d' ' -f2) ctl checks, 0 failed, no counter went back; 2/2 sessions kept past shutdown_timeout (2s) and listed in show info; load $1 ok, 0 refused, 0 failed"
	else
		cat "$work/upgrade17.log"; echo "$info"; jctl -u tcplb | tail -n 30
		fail "17 upgrade with metrics+admin:$errs (watch: $w; load: $res)"
	fi
}

# ================================================================================
# 18. systemctl restart with FileDescriptorStoreMax (4096) sockets, then
#     after narrowing a bind from 0.0.0.0 to 127.0.0.1 (issue 20)
# ================================================================================
check18() {
	local errs= pid0 pid1 p n nb
	{
		echo "global:"
		echo "  workers: 32"
		echo "  shutdown_timeout: 1s"
		echo "listeners:"
		echo "  web:"
		echo "    bind: 0.0.0.0:8080"
		echo "    pool: app"
		echo "  many:"
		echo "    bind:"
		for p in $(seq 20001 20127); do echo "      - 127.0.0.1:$p"; done
		echo "    pool: app"
		echo "pools:"
		echo "  app:"
		echo "    servers: [127.0.0.1:9117]"
	} | cfg
	cexec systemctl restart tcplb.service || errs="$errs first-restart-failed"
	wait_for 20127 W 10 >/dev/null || errs="$errs not-serving-4096"
	pid0=$(mainpid)
	nb=$(cexec ls "/proc/$pid0/fd" | wc -l)
	cexec systemctl restart tcplb.service || errs="$errs restart-4096-failed"
	pid1=$(mainpid)
	[ "$pid1" != "$pid0" ] || errs="$errs MainPID-unchanged"
	[ "$(cexec systemctl is-active tcplb.service)" = active ] || errs="$errs not-active-after-4096"
	# one summary line for so many (journald would rate-limit 4096)
	n=$(jctl -u tcplb -o cat _PID="$pid1" | grep -o "systemd passed 4096 sockets (LISTEN_FDNAMES of [0-9]* bytes)" | tail -n 1)
	[ -n "$n" ] || errs="$errs not-4096-passed($(jctl -u tcplb -o cat _PID="$pid1" | grep 'systemd passed' | tail -n 1))"
	wait_for 20001 W 10 >/dev/null || errs="$errs not-serving-after-restart"
	# narrow 0.0.0.0:8080 to 127.0.0.1:8080: the stored wildcard group is
	# ours, not "another program"
	sed -i 's/bind: 0.0.0.0:8080/bind: 127.0.0.1:8080/' "$root/etc/tcplb.yaml"
	cexec systemctl restart tcplb.service || errs="$errs restart-after-narrowing-failed"
	[ "$(cexec systemctl is-active tcplb.service)" = active ] || errs="$errs not-active-after-narrowing"
	wait_for 8080 W 10 >/dev/null || errs="$errs 8080-not-served-after-narrowing"
	jctl -u tcplb -o cat | grep -q "another program listens there" && errs="$errs foreign-probe-hit"
	cfg_upgrade
	cexec systemctl restart tcplb.service || errs="$errs restore-failed"
	if [ -z "$errs" ]; then
		pass "18 restart: 4096 sockets (32 workers x 128 binds; $nb fds open) restarted from systemd's fd store: $n; then a bind narrowed from 0.0.0.0:8080 to 127.0.0.1:8080 restarted and serves"
	else
		jctl -u tcplb | tail -n 20
		fail "18 restart with 4096 sockets / narrowed bind:$errs"
	fi
}

# ================================================================================
# 13. a broken new binary keeps the old one serving
# ================================================================================
check13() {
	local errs= pid0 pid1 res out rc=0
	pid0=$(mainpid)
	load_start "$work/load13"
	out=$(cexec dpkg -i "/debs/$(basename "$deb3")" 2>&1) || rc=$?
	res=$(load_stop "$work/load13")
	pid1=$(mainpid)
	[ "$rc" != 0 ] || errs="$errs dpkg-i-succeeded"
	echo "$out" | grep -q "NOT UPGRADED" || errs="$errs no-NOT-UPGRADED-on-stderr"
	[ "$pid1" = "$pid0" ] || errs="$errs MainPID-changed($pid0->$pid1)"
	[ "$(cexec systemctl is-active tcplb.service)" = active ] || errs="$errs not-active"
	probe 8080 1 | grep -qx C || errs="$errs not-serving"
	jctl -u tcplb -p err -o cat | grep -q "binary upgrade failed" || errs="$errs not-in-journal"
	prop StatusText | grep -q "upgrade failed" || errs="$errs not-in-status"
	set -- $res
	[ "$2" = 0 ] && [ "$3" = 0 ] || errs="$errs refused=$2,failed=$3"
	# The good package goes on from there.
	cexec dpkg -i "/debs/$(basename "$deb2")" >"$work/dpkg13.log" 2>&1 || errs="$errs recovery-failed"
	[ "$(mainpid)" != "$pid0" ] || errs="$errs not-upgraded-after-recovery"
	if [ -z "$errs" ]; then
		pass "13 broken binary: dpkg -i exited $rc with \"$(echo "$out" | grep -m1 'NOT UPGRADED' | cut -c1-110)...\"; MainPID $pid0 kept serving ($1 ok, $2 refused, $3 failed); dpkg -i $v2 then upgraded"
	else
		echo "$out"; jctl -u tcplb | tail -n 30
		fail "13 broken binary:$errs"
	fi
}

# ================================================================================
# 14. upgrade with an invalid /etc/tcplb.yaml
# ================================================================================
check14() {
	local errs= pid0 pid1 out rc=0
	cp "$root/etc/tcplb.yaml" "$work/good.yaml"
	printf 'listeners:\n  web: {bind: 127.0.0.1:8080, pool: app, bogus: 1}\npools:\n  app: {servers: [127.0.0.1:9103]}\n' | cfg
	pid0=$(mainpid)
	out=$(cexec dpkg -i "/debs/$(basename "$deb2")" 2>&1) || rc=$?
	pid1=$(mainpid)
	[ "$rc" != 0 ] || errs="$errs dpkg-i-succeeded"
	echo "$out" | grep -q "NOT UPGRADED.*rejects /etc/tcplb.yaml" || errs="$errs no-message"
	echo "$out" | grep -q "/etc/tcplb.yaml:2:" || errs="$errs no-FILE:LINE"
	jctl -t tcplb-upgrade -o cat | grep -q "NOT UPGRADED" || errs="$errs not-in-journal"
	[ "$pid1" = "$pid0" ] || errs="$errs MainPID-changed"
	probe 8080 1 | grep -qx C || errs="$errs not-serving"
	cfg <"$work/good.yaml"
	cexec dpkg --configure -a >"$work/dpkg14.log" 2>&1 || errs="$errs configure-a-failed"
	[ "$(mainpid)" != "$pid0" ] || errs="$errs not-upgraded-after-fix"
	if [ -z "$errs" ]; then
		pass "14 invalid file: dpkg -i exited $rc, the running tcplb (MainPID $pid0) kept serving, stderr and journal: \"$(echo "$out" | grep -m1 'NOT UPGRADED' | cut -c1-100)...\"; fixed, dpkg --configure -a upgraded"
	else
		echo "$out"; cat "$work/dpkg14.log"
		fail "14 invalid file:$errs"
	fi
}

# ================================================================================
# 15. upgrade with tcplb.socket enabled (after check 9)
# ================================================================================
check15() {
	local errs= pid0 pid1 res out
	[ "$(cexec systemctl is-active tcplb.socket)" = active ] || errs="$errs socket-not-active-before"
	pid0=$(mainpid)
	load_start "$work/load15"
	out=$(cexec dpkg -i "/debs/$(basename "$deb2")" 2>&1) || errs="$errs dpkg-i-failed"
	res=$(load_stop "$work/load15")
	pid1=$(mainpid)
	[ "$(cexec systemctl is-active tcplb.socket)" = active ] || errs="$errs socket-stopped"
	[ "$(cexec systemctl is-active tcplb.service)" = active ] || errs="$errs service-not-active"
	[ "$pid1" != "$pid0" ] || errs="$errs MainPID-unchanged"
	jctl -u tcplb -o cat | grep -q "previous process passed socket .* 'tcplb.socket' bound to 127.0.0.1:8080" ||
		errs="$errs socket-not-handed-over"
	set -- $res
	[ "$2" = 0 ] && [ "$3" = 0 ] || errs="$errs refused=$2,failed=$3"
	if [ -z "$errs" ]; then
		pass "15 upgrade with tcplb.socket: socket still active, its socket handed from $pid0 to $pid1; $1 ok, $2 refused, $3 failed"
	else
		echo "$out"; jctl -u tcplb -u tcplb.socket | tail -n 30
		fail "15 upgrade with tcplb.socket:$errs"
	fi
}

# ================================================================================
# 16. install while 127.0.0.1:8080 is taken
# ================================================================================
check16() {
	local errs= out rc=0 blocker
	start_backend 8080 squatter
	blocker=${bg_pids##* }
	for i in $(seq 50); do probe 8080 1 | grep -qx squatter && break; sleep 0.1; done
	out=$(cexec dpkg -i "/debs/$(basename "$deb")" 2>&1) || rc=$?
	[ "$rc" = 0 ] || errs="$errs dpkg-i-exit-$rc"
	echo "$out" | grep -q "not running" || errs="$errs no-not-running"
	echo "$out" | grep -q "127.0.0.1:8080.*in use" || errs="$errs no-address-in-use"
	# Only this start's errors, not older ones from the journal.
	echo "$out" | grep '^tcplb:   ' | grep -qv '8080' && errs="$errs unrelated-journal-lines"
	echo "$out" | grep -q "systemctl restart tcplb" || errs="$errs no-how-to-fix"
	kill "$blocker" 2>/dev/null
	cexec systemctl stop tcplb.service >/dev/null 2>&1
	cexec dpkg --purge tcplb >/dev/null 2>&1 || errs="$errs purge-failed"
	if [ -z "$errs" ]; then
		pass "16 port taken: dpkg -i exited 0 and said: $(echo "$out" | grep '^tcplb:' | tr '\n' ' ' | cut -c1-300)"
	else
		echo "$out"
		fail "16 port taken:$errs"
	fi
}

# ================================================================================
# admin socket and metrics (issue 10): `tcplb ctl` against the installed
# service, and a Prometheus scrape.  A separate block: it leaves the service
# running the packaged configuration again, as it found it.
# ================================================================================
check_admin() {
	local errs= out mode seq metrics
	# The packaged file sets global.admin_socket: /run/tcplb/admin.sock
	# (RuntimeDirectory=tcplb).
	out=$(cexec tcplb ctl show servers 2>&1) || errs="$errs ctl-show-servers-failed"
	echo "$out" | grep -q '^main 127\.0\.0\.1:8081 127\.0\.0\.1:8081 ' || errs="$errs no-server-row"
	mode=$(cexec stat -c %a /run/tcplb/admin.sock 2>/dev/null)
	[ "$mode" = 660 ] || errs="$errs socket-mode=$mode"
	cexec tcplb ctl show info | grep -q '^state: ready$' || errs="$errs state-not-ready"
	cp "$root/etc/tcplb.yaml" "$work/packaged.yaml"
	start_backend 9111 M
	cfg <<-'EOF'
	global:
	  admin_socket: /run/tcplb/admin.sock
	  metrics: 127.0.0.1:9100
	listeners:
	  web:
	    bind: 127.0.0.1:8080
	    pool: app
	pools:
	  app:
	    servers:
	      - {address: 127.0.0.1:9111, name: m}
	EOF
	# admin_socket and metrics are bound at start: restart.
	cexec systemctl restart tcplb.service || errs="$errs restart-failed"
	wait_for 8080 M 10 >/dev/null || errs="$errs backend-not-served"
	seq=$(probe 8080 3)
	[ "$seq" = "M M M" ] || errs="$errs not-served($seq)"
	cexec tcplb ctl check >/dev/null 2>&1 || errs="$errs check-not-ok"
	cexec tcplb ctl show servers app | grep -q '^app m 127\.0\.0\.1:9111 ready up 1 1 0 [1-9]' ||
		errs="$errs show-servers:$(cexec tcplb ctl show servers app | tail -n 1 | tr ' ' _)"
	metrics=$(cnet "$py" -c "import urllib.request as u; print(u.urlopen('http://127.0.0.1:9100/metrics', timeout=5).read().decode())" 2>&1) ||
		errs="$errs scrape-failed"
	echo "$metrics" | grep -q '^tcplb_server_connections_total{pool="app",server="m",address="127.0.0.1:9111"} [1-9][0-9]*$' ||
		errs="$errs no-connections-metric"
	echo "$metrics" | grep -q '^tcplb_state{state="ready"} 1$' || errs="$errs no-state-metric"
	cexec tcplb ctl set server app/m state drain >/dev/null || errs="$errs set-state-failed"
	jctl -u tcplb -o cat | grep -q 'server app/m (127.0.0.1:9111): state ready -> drain (admin socket, uid 0' ||
		errs="$errs change-not-logged-with-uid"
	cfg <"$work/packaged.yaml"
	cexec systemctl restart tcplb.service || errs="$errs restore-restart-failed"
	if [ -z "$errs" ]; then
		pass "admin: tcplb ctl show servers against the installed service (socket /run/tcplb/admin.sock, mode 660), check ok, /metrics scraped ($(echo "$metrics" | grep -c '^tcplb_') tcplb_ samples), drain logged with uid"
	else
		echo "$out"; jctl -u tcplb | tail -n 20
		fail "admin:$errs"
	fi
}

check1
if [ "$(cexec systemctl is-active tcplb.service)" = active ]; then
	check_admin
	check2
	check3
	check4
	check5
	check6
	check7
	check8
	check11
	check12
	check17
	check18
	check13
	check14
	check9
	check15
else
	fail "2-9, 11-15 skipped: tcplb is not running"
	check6
fi
check10
check16
exit 0
