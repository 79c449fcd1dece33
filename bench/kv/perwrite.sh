#!/bin/bash
# bench/kv/perwrite.sh — drsite's context switches and CPU per write at N
# clients (default 64), read with perf stat while kvload drives it alone.
#
#   bench/kv/perwrite.sh [--drsite PATH] [--clients N] [--seconds S]
#
# Run from the build directory after make; needs perf (linux-perf).  Prints
# kvload's line, then writes/s, context switches per write and drsite's CPU
# microseconds per write over the measured window.
set -euo pipefail
DRSITE=./drsite CLIENTS=64 SECS=4
while [ $# -gt 0 ]; do
	case $1 in
	--drsite) DRSITE=$2; shift 2 ;;
	--clients) CLIENTS=$2; shift 2 ;;
	--seconds) SECS=$2; shift 2 ;;
	*) echo "usage: $0 [--drsite PATH] [--clients N] [--seconds S]" >&2; exit 2 ;;
	esac
done
KVLOAD=./bench/kv/kvload
[ -x "$DRSITE" ] && [ -x "$KVLOAD" ] || { echo "$0: run make first, from the build directory" >&2; exit 2; }
command -v perf >/dev/null || { echo "$0: perf is not installed (apt-get install linux-perf)" >&2; exit 2; }
DIR=$(mktemp -d /tmp/drorch-perwrite.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$DRSITE" --name bench --listen "127.0.0.1:$PORT" --data "$DIR/d" >"$DIR/drsite.log" 2>&1 &
PID=$!
trap 'kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; rm -rf "$DIR"' EXIT
for _ in $(seq 100); do
	curl -sf -o /dev/null "http://127.0.0.1:$PORT/healthz" && break
	sleep 0.1
done
"$KVLOAD" --target drsite --port "$PORT" --clients "$CLIENTS" --duration 1 >/dev/null
perf stat -x, -e context-switches,task-clock -p "$PID" -- sleep "$SECS" 2>"$DIR/perf" &
PERF=$!
"$KVLOAD" --target drsite --port "$PORT" --clients "$CLIENTS" --duration "$SECS" >"$DIR/kv"
wait "$PERF"
cat "$DIR/kv"
ops=$(grep -o ' ops=[0-9]*' "$DIR/kv" | cut -d= -f2)
secs=$(grep -o 'secs=[0-9.]*' "$DIR/kv" | cut -d= -f2)
cs=$(grep ',context-switches' "$DIR/perf" | cut -d, -f1)
ms=$(grep ',task-clock' "$DIR/perf" | cut -d, -f1)
awk -v o="$ops" -v s="$secs" -v c="$cs" -v m="$ms" -v n="$CLIENTS" 'BEGIN {
	printf "%d clients: %.0f writes/s, %.2f context switches and %.1f us of drsite CPU per write\n",
	       n, o / s, c / o, m * 1000 / o }'
echo "rerun: bench/kv/perwrite.sh --drsite $DRSITE --clients $CLIENTS --seconds $SECS"
