#!/usr/bin/env bash
# bench/failover/run.sh — N automatic failovers under write load (issue 5):
# client-seen RTO, drorchd's own rto_ms and lost acknowledged writes, for
# sync and async replication, on loopback and over an emulated 80 ms RTT WAN.
# failbench does the work (a fresh 3-site lab + drorchd per trial, kill -9 of
# the primary); this script checks the build and the disk, prints the machine
# line, keeps the per-trial lines, and stops failbench by PID on exit.
# See bench/failover/README.md.
#
# Run from the build directory after `make` (it builds nothing):
#   bench/failover/run.sh [--trials 20] [--wan-trials 8] [--cells "sync:loopback ..."] ...
# Every option is failbench's (bench/failover/run.sh --help lists them).
set -euo pipefail
export LC_ALL=C

FAILBENCH=${FAILBENCH:-./bench/failover/failbench}
BINDIR=${BINDIR:-.}
BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/tmp}}
FB_PID=""

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/../lib.sh"

# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
	# failbench kills its own children by PID on SIGTERM (and they die with it)
	stop_pid "$FB_PID"
}

main() {
	local args=() a
	while [ $# -gt 0 ]; do
		a=$1
		case "$a" in
		-h|--help) "$FAILBENCH" --help; exit 0 ;;
		--dir) BENCH_DIR=$2; shift 2; continue ;;
		--bindir) BINDIR=$2; shift 2; continue ;;
		esac
		args+=("$a")
		shift
	done
	[ -x "$FAILBENCH" ] || die "$FAILBENCH not found: run make first, from the build directory (or FAILBENCH=PATH)"
	for b in drsite drlink drorchd; do
		[ -x "$BINDIR/$b" ] || die "$BINDIR/$b not found: run make first, from the build directory (or --bindir DIR)"
	done
	refuse_tmpfs "$BENCH_DIR"
	local raw
	raw=$(mktemp "$BENCH_DIR/failbench-trials.XXXXXX")
	echo "machine: $(machine), labs on $FS_TYPE ($BENCH_DIR), load average before: $(load_average)"
	echo "per-trial lines: $raw"
	install_traps
	local rc=0
	"$FAILBENCH" --bindir "$BINDIR" --dir "$BENCH_DIR" --raw "$raw" "${args[@]}" &
	FB_PID=$!
	wait "$FB_PID" || rc=$?
	FB_PID=""
	exit "$rc"
}

main "$@"
