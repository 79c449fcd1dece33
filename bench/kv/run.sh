#!/usr/bin/env bash
# bench/kv/run.sh — durable PUT throughput and latency of drsite beside
# redis-server (appendonly yes, appendfsync always), same load generator,
# same concurrency, same run.  See bench/kv/README.md.
#
# Run from the build directory after `make` (it builds nothing):
#   bench/kv/run.sh [--reps 3] [--duration 5] [--clients "1 8 64"] ...
# Every option also has an environment variable (in brackets in --help).
set -euo pipefail
export LC_ALL=C

DRSITE=${DRSITE:-./drsite}
KVLOAD=${KVLOAD:-./bench/kv/kvload}
REDIS_SERVER=${REDIS_SERVER:-redis-server}
CLIENTS=${CLIENTS:-"1 8 64"}
REPS=${REPS:-3}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
VALUE_SIZE=${VALUE_SIZE:-128}
HTTP=${HTTP:-raw}
BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/tmp}}
KEEP=${KEEP:-0}

usage() {
	cat <<EOF
usage: bench/kv/run.sh [options]     (run from the build directory, after make)
  --drsite PATH      drsite binary                      [DRSITE=$DRSITE]
  --kvload PATH      load generator                     [KVLOAD=$KVLOAD]
  --redis PATH       redis-server binary                [REDIS_SERVER=$REDIS_SERVER]
  --clients "LIST"   concurrency levels                 [CLIENTS="$CLIENTS"]
  --reps N           repetitions per point              [REPS=$REPS]
  --duration S       measured seconds per repetition    [DURATION=$DURATION]
  --warmup S         unmeasured seconds before each     [WARMUP=$WARMUP]
  --value-size B     bytes per value                    [VALUE_SIZE=$VALUE_SIZE]
  --http raw|curl    kvload's HTTP client for drsite    [HTTP=$HTTP]
  --dir DIR          where the data directories go; must be a real disk,
                     fsync is free on tmpfs             [BENCH_DIR=$BENCH_DIR]
  --keep             keep data directories and logs     [KEEP=1]
EOF
}

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/../lib.sh"

parse_args() {
	while [ $# -gt 0 ]; do
		case "$1" in
		--drsite) DRSITE=$2; shift ;;
		--kvload) KVLOAD=$2; shift ;;
		--redis) REDIS_SERVER=$2; shift ;;
		--clients) CLIENTS=$2; shift ;;
		--reps) REPS=$2; shift ;;
		--duration) DURATION=$2; shift ;;
		--warmup) WARMUP=$2; shift ;;
		--value-size) VALUE_SIZE=$2; shift ;;
		--http) HTTP=$2; shift ;;
		--dir) BENCH_DIR=$2; shift ;;
		--keep) KEEP=1 ;;
		-h|--help) usage; exit 0 ;;
		*) usage >&2; die "unknown option: $1" ;;
		esac
		shift
	done
	[[ $REPS =~ ^[1-9][0-9]*$ ]] || die "--reps must be a positive integer"
}

check_tools() {
	[ -x "$KVLOAD" ] || die "$KVLOAD not found: run make first, from the build directory (or --kvload PATH)"
	[ -x "$DRSITE" ] || die "$DRSITE not found: run make first, from the build directory (or --drsite PATH)"
	command -v "$REDIS_SERVER" >/dev/null ||
		die "redis-server not found: apt-get install redis-server (or --redis PATH)"
	REDIS_SERVER=$(command -v "$REDIS_SERVER")
	refuse_tmpfs "$BENCH_DIR"
}

# ---- processes -------------------------------------------------------------

WORK=""
DRSITE_PID=""
REDIS_PID=""
KVLOAD_PID=""

cleanup() {
	stop_pid "$KVLOAD_PID"
	stop_pid "$DRSITE_PID"
	stop_pid "$REDIS_PID"
	remove_work
}

# The first line a server sends back to a one-shot request, "" on failure.
ask() {
	local port=$1 request=$2 line=""
	{
		exec 3<>"/dev/tcp/127.0.0.1/$port" &&
			printf '%b' "$request" >&3 &&
			IFS= read -r -t 2 line <&3
	} 2>/dev/null || true
	exec 3<&- 2>/dev/null || true
	printf '%s' "${line%$'\r'}"
}

# wait_ready NAME PID PORT REQUEST EXPECT: up to 15 s for the answer to match.
wait_ready() {
	local name=$1 pid=$2 port=$3 request=$4 expect=$5
	for _ in $(seq 150); do
		kill -0 "$pid" 2>/dev/null || {
			tail -n 20 "$WORK/$name.log" >&2
			die "$name exited during start-up (log above)"
		}
		# shellcheck disable=SC2053  # expect is a glob on purpose
		[[ $(ask "$port" "$request") == $expect ]] && return 0
		sleep 0.1
	done
	tail -n 20 "$WORK/$name.log" >&2
	die "$name not ready on 127.0.0.1:$port after 15 s"
}

start_servers() {
	WORK=$(mktemp -d "$BENCH_DIR/drorch-bench-kv.XXXXXX")
	mkdir "$WORK/drsite" "$WORK/redis"
	free_port
	REDIS_PORT=$FREE_PORT
	free_port
	DRSITE_PORT=$FREE_PORT

	"$REDIS_SERVER" --port "$REDIS_PORT" --bind 127.0.0.1 --appendonly yes \
		--appendfsync always --save '' --dir "$WORK/redis" --daemonize no \
		>"$WORK/redis.log" 2>&1 &
	REDIS_PID=$!
	"$DRSITE" --name bench --listen "127.0.0.1:$DRSITE_PORT" --data "$WORK/drsite" \
		>"$WORK/drsite.log" 2>&1 &
	DRSITE_PID=$!

	# shellcheck disable=SC2016  # RESP text, nothing to expand
	wait_ready redis "$REDIS_PID" "$REDIS_PORT" '*1\r\n$4\r\nPING\r\n' '+PONG'
	wait_ready drsite "$DRSITE_PID" "$DRSITE_PORT" \
		'GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' 'HTTP/1.* 200*'
}

# ---- measuring -------------------------------------------------------------

# run_point TARGET CLIENTS REP: one kvload run; appends "C TARGET REP fields" to results.
# kvload runs in the background so that a signal to run.sh cleans up at once.
run_point() {
	local target=$1 c=$2 rep=$3 port line status=0
	[ "$target" = redis ] && port=$REDIS_PORT || port=$DRSITE_PORT
	"$KVLOAD" --target "$target" --port "$port" --clients "$c" \
		--duration "$DURATION" --warmup "$WARMUP" --value-size "$VALUE_SIZE" \
		--http "$HTTP" --key-prefix "r$rep-" >"$WORK/kvload.out" 2>"$WORK/kvload.err" &
	KVLOAD_PID=$!
	wait "$KVLOAD_PID" || status=$?
	KVLOAD_PID=""
	line=$(cat "$WORK/kvload.out")
	if [ "$status" != 0 ]; then
		cat "$WORK/kvload.err" >&2
		tail -n 20 "$WORK/$target.log" >&2
		die "kvload failed: $target, $c clients, rep $rep (kvload error and $target log above)"
	fi
	cat "$WORK/kvload.err" >&2
	echo "$c $target $rep $line" >>"$WORK/results"
	printf '  %-6s %3d clients rep %d/%d: %s\n' "$target" "$c" "$rep" "$REPS" \
		"$(field "$line" ops_per_sec) ops/s p50 $(field "$line" p50_us) us p99 $(field "$line" p99_us) us" >&2
}


# Reps alternate which target goes first, so drift in the machine (page
# cache, thermal, neighbours) does not always favour the same one.
measure_all() {
	: >"$WORK/results"
	for c in $CLIENTS; do
		for rep in $(seq "$REPS"); do
			if [ $((rep % 2)) = 1 ]; then
				run_point drsite "$c" "$rep"; run_point redis "$c" "$rep"
			else
				run_point redis "$c" "$rep"; run_point drsite "$c" "$rep"
			fi
		done
	done
}

# ---- the table -------------------------------------------------------------

# values C TARGET NAME: that field over all reps, one per line.
values() {
	awk -v c="$1" -v t="$2" '$1 == c && $2 == t' "$WORK/results" |
		while read -r line; do field "$line" "$3"; done
}

# cell C TARGET NAME FORMAT: "median [min..max]" of a field.
cell() {
	local m lo hi
	read -r m lo hi < <(values "$1" "$2" "$3" | spread)
	[ "$m" = NA ] && { echo "-"; return; }
	# shellcheck disable=SC2059  # the caller's number format, used three times
	printf "$4 [$4..$4]" "$m" "$lo" "$hi"
}

# Per-rep drsite/redis throughput ratios for C, one per line.
ratios() {
	paste -d' ' <(values "$1" drsite ops_per_sec) <(values "$1" redis ops_per_sec) |
		awk '$2 > 0 { printf "%.2f\n", $1 / $2 }'
}

# aim_line C DRSITE_MEDIAN REDIS_MEDIAN: issue 13's aim at C clients:
# drsite's median throughput at least Redis's, and at 64 clients or more
# its p99 no higher than Redis's.
aim_line() {
	local c=$1 met=MET dp xp what="throughput >= 1.00x redis"
	awk -v a="$2" -v b="$3" 'BEGIN { exit !(b > 0 && a >= b) }' || met="NOT MET"
	if [ "$c" -ge 64 ]; then
		read -r dp _ < <(values "$c" drsite p99_us | spread)
		read -r xp _ < <(values "$c" redis p99_us | spread)
		what="$what and p99 <= redis's ($(printf '%.0f' "$dp") vs $(printf '%.0f' "$xp") us)"
		awk -v a="$dp" -v b="$xp" 'BEGIN { exit !(a <= b) }' || met="NOT MET"
	fi
	printf '%-7s aim: %s: %s\n' "$c" "$what" "$met"
}

print_table() {
	local c t r_lo r_hi d_m x_m
	echo
	echo "bench/kv: durable PUT, ${VALUE_SIZE}-byte values, ${DURATION} s measured (+${WARMUP} s warm-up) x ${REPS} reps per point"
	echo "machine: $(machine), data on $FS_TYPE ($WORK), $("$REDIS_SERVER" --version | cut -d' ' -f1-3), kvload --http $HTTP"
	echo "cells: median [min..max] over reps; p50/p99 per-request latency in microseconds"
	echo
	printf '%-7s %-7s %-26s %-24s %-26s %s\n' clients target "writes/s" "p50 us" "p99 us" "fsyncs/write"
	for c in $CLIENTS; do
		for t in drsite redis; do
			printf '%-7s %-7s %-26s %-24s %-26s %s\n' "$c" "$t" \
				"$(cell "$c" "$t" ops_per_sec %.0f)" "$(cell "$c" "$t" p50_us %.0f)" \
				"$(cell "$c" "$t" p99_us %.0f)" "$(cell "$c" "$t" fsyncs_per_write %.3f)"
		done
		read -r d_m _ < <(values "$c" drsite ops_per_sec | spread)
		read -r x_m _ < <(values "$c" redis ops_per_sec | spread)
		read -r _ r_lo r_hi < <(ratios "$c" | spread)
		printf '%-7s drsite/redis throughput: %.2fx (ratio of medians; per-rep %s..%s)\n' \
			"$c" "$(awk -v a="$d_m" -v b="$x_m" 'BEGIN { print (b > 0 ? a / b : 0) }')" \
			"$r_lo" "$r_hi"
		aim_line "$c" "$d_m" "$x_m"
	done
	echo
	echo "redis fsyncs/write: not exposed by Redis (it fdatasyncs once per event-loop pass, covering every client served in it)"
	echo "rerun: bench/kv/run.sh --reps $REPS --duration $DURATION --warmup $WARMUP --clients \"$CLIENTS\" --value-size $VALUE_SIZE --http $HTTP --dir $BENCH_DIR"
}

main() {
	parse_args "$@"
	check_tools
	install_traps
	start_servers
	echo "run.sh: drsite pid $DRSITE_PID on 127.0.0.1:$DRSITE_PORT, redis-server pid $REDIS_PID on 127.0.0.1:$REDIS_PORT, data in $WORK" >&2
	measure_all
	print_table
}

main "$@"
