# Sourced by build-deb.sh and build-rpm.sh: their messages and the options
# they share.  Before sourcing, set PROG (the name in messages), OUTDIR
# (the default --outdir) and HELP (the sed range of the script's header
# comment that --help prints).

die() { echo "$PROG: $*" >&2; exit 1; }
say() { echo "$PROG: $*" >&2; }

# Sets nocheck, outdir, tarball and version from the command line.
parse_build_args() {
	nocheck=
	outdir=$OUTDIR
	tarball=
	version=
	while [ $# -gt 0 ]; do
		case $1 in
		--nocheck) nocheck=1 ;;
		--outdir) [ $# -ge 2 ] || die "--outdir needs an argument"; outdir=$2; shift ;;
		--outdir=*) outdir=${1#*=} ;;
		--tarball) [ $# -ge 2 ] || die "--tarball needs an argument"; tarball=$2; shift ;;
		--tarball=*) tarball=${1#*=} ;;
		--version) [ $# -ge 2 ] || die "--version needs an argument"; version=$2; shift ;;
		--version=*) version=${1#*=} ;;
		-h|--help) sed -n "${HELP}s/^# \{0,1\}//p" "$0"; exit 0 ;;
		*) die "unknown argument: $1 (try --help)" ;;
		esac
		shift
	done
}
