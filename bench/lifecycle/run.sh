#!/usr/bin/env bash
# bench/lifecycle/run.sh — drorch's failover (kill -9), switchover, failback,
# rolling upgrade and rollback under write load, beside Redis Sentinel's
# automatic failover, manual failover and rolling restart in the same run:
# duration, the longest write gap a client saw,
# failed and lost acknowledged writes.  lifebench does the work (a fresh lab
# per trial); this script checks the build and the disk, prints the machine
# line and stops lifebench by PID on exit.  See bench/lifecycle/README.md.
#
# Run from the build directory after `make` (it builds nothing):
#   bench/lifecycle/run.sh [--trials 5] [--writers 4] [--only switchover] [--no-peer]
set -euo pipefail
export LC_ALL=C

LIFEBENCH=${LIFEBENCH:-./bench/lifecycle/lifebench}
BINDIR=${BINDIR:-.}
BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/tmp}}
LB_PID=""

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/../lib.sh"

# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
	# lifebench kills its own children by PID on SIGTERM (and they die with it)
	stop_pid "$LB_PID"
}

main() {
	local args=() a
	while [ $# -gt 0 ]; do
		a=$1
		case "$a" in
		-h|--help) "$LIFEBENCH" --help; exit 0 ;;
		--dir) BENCH_DIR=$2; shift 2; continue ;;
		--bindir) BINDIR=$2; shift 2; continue ;;
		esac
		args+=("$a")
		shift
	done
	[ -x "$LIFEBENCH" ] || die "$LIFEBENCH not found: run make first, from the build directory (or LIFEBENCH=PATH)"
	for b in drsite drsite-0.1.0 drlink drorchd; do
		[ -x "$BINDIR/$b" ] || die "$BINDIR/$b not found: run make first, from the build directory (or --bindir DIR)"
	done
	command -v redis-server >/dev/null || die "redis-server not found: scripts/install-deps.sh installs it"
	refuse_tmpfs "$BENCH_DIR"
	local dir
	dir=$(mktemp -d "$BENCH_DIR/lifebench.XXXXXX")
	echo "machine: $(machine), labs on $FS_TYPE ($dir), load average before: $(load_average)"
	install_traps
	local rc=0
	PATH="$(cd "$BINDIR" && pwd):$PATH" "$LIFEBENCH" --dir "$dir" "${args[@]}" &
	LB_PID=$!
	wait "$LB_PID" || rc=$?
	LB_PID=""
	[ "$rc" -eq 0 ] && rm -rf "$dir"
	exit "$rc"
}

main "$@"
