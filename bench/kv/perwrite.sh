#!/usr/bin/env bash
# bench/kv/perwrite.sh — drsite's context switches and CPU per write at N
# clients (default 64), read with perf stat while kvload drives it alone.
#
#   bench/kv/perwrite.sh [--drsite PATH] [--clients N] [--seconds S] [--dir DIR]
#
# Run from the build directory after make; needs perf (linux-perf).  Prints
# kvload's line, then writes/s, context switches per write and drsite's CPU
# microseconds per write over the measured window.
set -euo pipefail
export LC_ALL=C

DRSITE=./drsite KVLOAD=./bench/kv/kvload CLIENTS=64 SECS=4 BENCH_DIR=/tmp
while [ $# -gt 0 ]; do
	case $1 in
	--drsite) DRSITE=$2; shift 2 ;;
	--clients) CLIENTS=$2; shift 2 ;;
	--seconds) SECS=$2; shift 2 ;;
	--dir) BENCH_DIR=$2; shift 2 ;;
	*) echo "usage: $0 [--drsite PATH] [--clients N] [--seconds S] [--dir DIR]" >&2; exit 2 ;;
	esac
done

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/../lib.sh"

if [ ! -x "$DRSITE" ] || [ ! -x "$KVLOAD" ]; then die "run make first, from the build directory"; fi
command -v perf >/dev/null || die "perf is not installed (apt-get install linux-perf)"
refuse_tmpfs "$BENCH_DIR"

DRSITE_PID=""
cleanup() {
	stop_pid "$DRSITE_PID"
	remove_work
}
install_traps
WORK=$(mktemp -d "$BENCH_DIR/drorch-perwrite.XXXXXX")
free_port
"$DRSITE" --name bench --listen "127.0.0.1:$FREE_PORT" --data "$WORK/d" >"$WORK/drsite.log" 2>&1 &
DRSITE_PID=$!
wait_http drsite "$DRSITE_PID" "http://127.0.0.1:$FREE_PORT/healthz" "$WORK/drsite.log"

"$KVLOAD" --target drsite --port "$FREE_PORT" --clients "$CLIENTS" --duration 1 >/dev/null
perf stat -x, -e context-switches,task-clock -p "$DRSITE_PID" -- sleep "$SECS" 2>"$WORK/perf" &
PERF=$!
line=$("$KVLOAD" --target drsite --port "$FREE_PORT" --clients "$CLIENTS" --duration "$SECS")
wait "$PERF"
echo "$line"
cs=$(grep ',context-switches' "$WORK/perf" | cut -d, -f1)
ms=$(grep ',task-clock' "$WORK/perf" | cut -d, -f1)
awk -v o="$(field "$line" ops)" -v s="$(field "$line" secs)" -v c="$cs" -v m="$ms" -v n="$CLIENTS" 'BEGIN {
	printf "%d clients: %.0f writes/s, %.2f context switches and %.1f us of drsite CPU per write\n",
	       n, o / s, c / o, m * 1000 / o }'
echo "rerun: bench/kv/perwrite.sh --drsite $DRSITE --clients $CLIENTS --seconds $SECS --dir $BENCH_DIR"
