#!/usr/bin/env bash
# bench/ha/run.sh — drorchd's high availability under write load: the
# takeover when the leader drorchd is killed (-9) in STEADY and in the middle
# of a failover, and a site failover's RTO with HA beside a single drorchd
# in the same run.  habench does the work (a fresh lab per trial, etcd-1..3
# and drorchd-1..3 for HA); this script checks the build, etcd and the disk,
# prints the machine line and stops habench by PID on exit (habench stops its
# labs by the PIDs of their lab.json).  See bench/ha/README.md.
#
# Run from the build directory after `make` (it builds nothing):
#   bench/ha/run.sh [--trials 5] [--writers 4] [--lease-ttl-ms 3000]
#                   [--only steady|mid-failover|site-failover] [--no-peer]
set -euo pipefail
export LC_ALL=C

HABENCH=${HABENCH:-./bench/ha/habench}
BINDIR=${BINDIR:-.}
BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/tmp}}
HB_PID=""

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/../lib.sh"

# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
	# habench stops its lab by PID on SIGTERM
	stop_pid "$HB_PID"
}

main() {
	local args=() a
	while [ $# -gt 0 ]; do
		a=$1
		case "$a" in
		-h|--help) "$HABENCH" --help; exit 0 ;;
		--dir) BENCH_DIR=$2; shift 2; continue ;;
		--bindir) BINDIR=$2; shift 2; continue ;;
		esac
		args+=("$a")
		shift
	done
	[ -x "$HABENCH" ] || die "$HABENCH not found: run make first, from the build directory (or HABENCH=PATH)"
	for b in drsite drlink drorchd; do
		[ -x "$BINDIR/$b" ] || die "$BINDIR/$b not found: run make first, from the build directory (or --bindir DIR)"
	done
	command -v etcd >/dev/null || die "etcd not found: scripts/install-deps.sh installs etcd-server"
	refuse_tmpfs "$BENCH_DIR"
	local dir
	dir=$(mktemp -d "$BENCH_DIR/habench.XXXXXX")
	echo "machine: $(machine), labs on $FS_TYPE ($dir), $(etcd --version | head -n 1), load average before: $(load_average)"
	install_traps
	local rc=0
	PATH="$(cd "$BINDIR" && pwd):$PATH" "$HABENCH" --dir "$dir" "${args[@]}" &
	HB_PID=$!
	wait "$HB_PID" || rc=$?
	HB_PID=""
	[ "$rc" -eq 0 ] && rm -rf "$dir"
	exit "$rc"
}

main "$@"
