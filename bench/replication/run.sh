#!/usr/bin/env bash
# bench/replication/run.sh — a real 3-site drsite cluster (a primary, b and c
# replicas) on loopback: (a) records/s and MB/s shipped, streaming and
# catching up; (b) sync quorum-1 PUT throughput and p50/p99 beside async in
# the same run, against the aim; (c) replica lag under sustained async load,
# sampled from /v1/status.  See bench/replication/README.md.
#
# Run from the build directory after `make` (it builds nothing):
#   bench/replication/run.sh [--reps 3] [--duration 3] [--clients "1 4 8 64"] ...
# Every option also has an environment variable (in brackets in --help).
set -euo pipefail
export LC_ALL=C

DRSITE=${DRSITE:-./drsite}
KVLOAD=${KVLOAD:-./bench/kv/kvload}
REPLSTAT=${REPLSTAT:-./bench/replication/replstat}
CLIENTS=${CLIENTS:-"1 4 8 64"}
REPS=${REPS:-3}
DURATION=${DURATION:-3}
WARMUP=${WARMUP:-1}
LAG_CLIENTS=${LAG_CLIENTS:-64}
LAG_DURATION=${LAG_DURATION:-5}
CATCHUP_CLIENTS=${CATCHUP_CLIENTS:-64}
CATCHUP_LOAD=${CATCHUP_LOAD:-3}
VALUE_SIZE=${VALUE_SIZE:-128}
INTERVAL_MS=${INTERVAL_MS:-20}
BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/tmp}}
KEEP=${KEEP:-0}

# The aims (issue 3): sync quorum-1 acknowledged writes at 4 clients at least
# twice PostgreSQL's sync replication under Patroni on this kind of machine
# (~4,500/s), with p99 under 5 ms on loopback.  Issue 13 adds: sync at 4
# clients at least 0.9x async in the same run, and at 64 clients at least
# Redis's durable PUT rate (bench/kv measures it; REDIS_64 is that figure on
# this machine when the issue was worked, pass --redis-64 N for another).
AIM_CLIENTS=4
AIM_WRITES=9000
AIM_P99_US=5000
AIM_RATIO=0.9
REDIS_64=${REDIS_64:-88000}

usage() {
	cat <<EOF
usage: bench/replication/run.sh [options]     (run from the build directory, after make)
  --drsite PATH         drsite binary                              [DRSITE=$DRSITE]
  --kvload PATH         load generator                             [KVLOAD=$KVLOAD]
  --replstat PATH       status sampler                             [REPLSTAT=$REPLSTAT]
  --clients "LIST"      (b) concurrency levels, sync and async     [CLIENTS="$CLIENTS"]
  --reps N              repetitions of every point                 [REPS=$REPS]
  --duration S          (b) measured seconds per run               [DURATION=$DURATION]
  --warmup S            unmeasured seconds before each run         [WARMUP=$WARMUP]
  --lag-clients N       (a)(c) async writers for the lag runs      [LAG_CLIENTS=$LAG_CLIENTS]
  --lag-duration S      (a)(c) measured seconds per lag run        [LAG_DURATION=$LAG_DURATION]
  --catchup-clients N   (a) writers while the replicas are paused  [CATCHUP_CLIENTS=$CATCHUP_CLIENTS]
  --catchup-load S      (a) seconds of load while paused           [CATCHUP_LOAD=$CATCHUP_LOAD]
  --value-size B        bytes per value                            [VALUE_SIZE=$VALUE_SIZE]
  --interval-ms MS      /v1/status sampling interval               [INTERVAL_MS=$INTERVAL_MS]
  --dir DIR             where the data directories go; a real disk [BENCH_DIR=$BENCH_DIR]
  --replica-dir DIR     a profile, not the aims: the replicas' data directories
                        in DIR (another filesystem, or tmpfs where their fsyncs
                        cost nothing), to split a sync write's cost into the
                        replica's disk and the rest; no aim is judged
  --keep                keep data directories and logs             [KEEP=1]
  --redis-64 N          Redis durable PUTs/s at 64 clients (bench/kv) [REDIS_64=$REDIS_64]
EOF
}

# shellcheck source=bench/replication/cluster.sh
. "$(dirname "$0")/cluster.sh"

parse_args() {
	while [ $# -gt 0 ]; do
		case "$1" in
		--drsite) DRSITE=$2; shift ;;
		--kvload) KVLOAD=$2; shift ;;
		--replstat) REPLSTAT=$2; shift ;;
		--clients) CLIENTS=$2; shift ;;
		--reps) REPS=$2; shift ;;
		--duration) DURATION=$2; shift ;;
		--warmup) WARMUP=$2; shift ;;
		--lag-clients) LAG_CLIENTS=$2; shift ;;
		--lag-duration) LAG_DURATION=$2; shift ;;
		--catchup-clients) CATCHUP_CLIENTS=$2; shift ;;
		--catchup-load) CATCHUP_LOAD=$2; shift ;;
		--value-size) VALUE_SIZE=$2; shift ;;
		--interval-ms) INTERVAL_MS=$2; shift ;;
		--dir) BENCH_DIR=$2; shift ;;
		--replica-dir) REPLICA_DIR=$2; shift ;;
		--keep) KEEP=1 ;;
		--redis-64) REDIS_64=$2; shift ;;
		-h|--help) usage; exit 0 ;;
		*) usage >&2; die "unknown option: $1" ;;
		esac
		shift
	done
	[[ $REPS =~ ^[1-9][0-9]*$ ]] || die "--reps must be a positive integer"
}

# ---- measuring -------------------------------------------------------------

record() {
	echo "$1 rep=$2 $POINT" >>"$WORK/results"
}

progress() {
	printf '  %-22s rep %d/%d: %s writes/s p50 %s us p99 %s us\n' "$1" "$2" "$REPS" \
		"$(field "$POINT" ops_per_sec)" "$(field "$POINT" p50_us)" "$(field "$POINT" p99_us)" >&2
}

# (b) sync quorum 1 and async at each level; reps alternate which goes first.
measure_modes() {
	local c rep m
	for c in $CLIENTS; do
		for rep in $(seq "$REPS"); do
			for m in $( [ $((rep % 2)) = 1 ] && echo "sync async" || echo "async sync"); do
				set_mode r "$m" 1
				load_point r "$c" "$DURATION" "$m$c-$rep-"
				record "b:$c:$m" "$rep"
				progress "$m $c clients" "$rep"
			done
		done
	done
}

# (a)(c) sustained async load: lag samples and streaming shipping rate.
measure_lag() {
	local rep
	set_mode r async 1
	for rep in $(seq "$REPS"); do
		load_point r "$LAG_CLIENTS" "$LAG_DURATION" "lag-$rep-"
		record lag "$rep"
		progress "async lag $LAG_CLIENTS clients" "$rep"
	done
}

# (a) catch-up: replicas paused while the primary takes writes, then resumed.
measure_catch_up() {
	local rep
	set_mode r async 1
	for rep in $(seq "$REPS"); do
		catch_up_point r "$CATCHUP_LOAD" "cu-$rep-"
		record catchup "$rep"
		printf '  %-22s rep %d/%d: %s records in %s s\n' "catch-up" "$rep" "$REPS" \
			"$(field "$POINT" catch_up_records)" "$(field "$POINT" catch_up_secs)" >&2
	done
}

# ---- the table -------------------------------------------------------------

aim_verdict() {
	local w p
	w=$(median "b:$AIM_CLIENTS:sync" ops_per_sec)
	p=$(median "b:$AIM_CLIENTS:sync" p99_us)
	[ -n "$w" ] && [ "$w" != NA ] || { echo "aim: not measured ($AIM_CLIENTS clients not in --clients)"; return; }
	[ -z "${REPLICA_DIR:-}" ] || { echo "aim: not judged (--replica-dir: a profile, the replicas' data on $REPLICA_FS_TYPE)"; return; }
	awk -v w="$w" -v p="$p" -v aw="$AIM_WRITES" -v ap="$AIM_P99_US" -v c="$AIM_CLIENTS" 'BEGIN {
		printf "aim (%d clients, sync quorum 1): >= %d writes/s (2x ~4,500/s, PostgreSQL sync replication under Patroni) and p99 < %d us\n", c, aw, ap
		printf "measured (medians): %.0f writes/s = %.2fx the aim: %s; p99 %.0f us: %s\n", w, w / aw,
			(w >= aw ? "MET" : "NOT MET"), p, (p < ap ? "MET" : "NOT MET")
	}'
	ratio_verdict
	redis_verdict
}

# Issue 13: sync/async at AIM_CLIENTS (ratio of the medians of the same run).
ratio_verdict() {
	local sy as
	sy=$(median "b:$AIM_CLIENTS:sync" ops_per_sec)
	as=$(median "b:$AIM_CLIENTS:async" ops_per_sec)
	[ -n "$as" ] && [ "$as" != NA ] || return 0
	awk -v s="$sy" -v a="$as" -v r="$AIM_RATIO" -v c="$AIM_CLIENTS" 'BEGIN {
		x = a > 0 ? s / a : 0
		printf "aim (%d clients): sync/async >= %.2fx; measured %.2fx: %s\n", c, r, x, (x >= r ? "MET" : "NOT MET")
	}'
}

# Issue 13: sync at 64 clients against Redis's durable PUT rate (bench/kv).
redis_verdict() {
	local sy
	sy=$(median "b:64:sync" ops_per_sec)
	[ -n "$sy" ] && [ "$sy" != NA ] || return 0
	awk -v s="$sy" -v r="$REDIS_64" 'BEGIN {
		printf "aim (64 clients): sync >= Redis durable PUT (%d/s, bench/kv, --redis-64); measured %.0f/s = %.2fx: %s\n",
			r, s, s / r, (s >= r ? "MET" : "NOT MET")
	}'
}

print_table() {
	local c m f='%-8s %-6s %-22s %-20s %-22s %-18s %-16s %s\n'
	echo
	echo "bench/replication: 3 sites on loopback (a primary; b, c replicas, binary framing), ${VALUE_SIZE}-byte values, kvload closed loop"
	machine_line
	echo "cells: median [min..max] over $REPS reps; latencies in microseconds; CPU = utime+stime of each drsite over the window / writes"
	echo
	echo "(b) PUT throughput and latency, ${DURATION} s measured (+${WARMUP} s warm-up) per run"
	# shellcheck disable=SC2059  # one format for header and rows
	printf "$f" clients mode "writes/s" "p50 us" "p99 us" "primary CPU us/w" "replica CPU us/w" "fsyncs/write"
	for c in $CLIENTS; do
		for m in sync async; do
			# shellcheck disable=SC2059
			printf "$f" "$c" "$m" "$(cell "b:$c:$m" ops_per_sec %.0f)" "$(cell "b:$c:$m" p50_us %.0f)" \
				"$(cell "b:$c:$m" p99_us %.0f)" "$(cell "b:$c:$m" cpu_a_us_per_write %.1f)" \
				"$(cell "b:$c:$m" cpu_b_us_per_write %.1f)" "$(cell "b:$c:$m" fsyncs_per_write %.3f)"
		done
		printf '%-8s sync/async throughput: %s\n' "$c" "$(ratio_line "b:$c:sync" "b:$c:async" ops_per_sec)"
	done
	aim_verdict
	echo
	echo "(a) records and MB shipped to the slowest replica"
	f='%-44s %-24s %-22s %s\n'
	# shellcheck disable=SC2059
	printf "$f" "" "records/s" "MB/s" "primary writes/s"
	# shellcheck disable=SC2059
	printf "$f" "streaming, async, $LAG_CLIENTS clients, ${LAG_DURATION} s" "$(cell lag ship_records_per_sec %.0f)" \
		"$(cell lag ship_mb_per_sec %.2f)" "$(cell lag writes_per_sec %.0f)"
	# shellcheck disable=SC2059
	printf "$f" "catch-up after ${CATCHUP_LOAD} s paused ($(cell catchup catch_up_records %.0f) records)" \
		"$(cell catchup ship_records_per_sec %.0f)" "$(cell catchup ship_mb_per_sec %.2f)" "-"
	echo "    catch-up: snapshots installed by the replicas per rep: $(values catchup snapshots | tr '\n' ' ')(a snapshot means a checkpoint had removed the records they needed)"
	echo
	echo "(c) lag under sustained async load ($LAG_CLIENTS clients), the primary's view of each replica, sampled every ${INTERVAL_MS} ms"
	echo "    (per rep: p50/p99/max over all samples of both replicas; cells: median [min..max] of those over reps)"
	f='%-12s %-20s %-20s %s\n'
	# shellcheck disable=SC2059
	printf "$f" "" p50 p99 max
	# shellcheck disable=SC2059
	printf "$f" "lag records" "$(cell lag lag_records_p50 %.0f)" "$(cell lag lag_records_p99 %.0f)" "$(cell lag lag_records_max %.0f)"
	# shellcheck disable=SC2059
	printf "$f" "lag ms" "$(cell lag lag_ms_p50 %.0f)" "$(cell lag lag_ms_p99 %.0f)" "$(cell lag lag_ms_max %.0f)"
	echo "    samples per rep: $(cell lag samples %.0f)"
	echo
	echo "rerun: bench/replication/run.sh --reps $REPS --duration $DURATION --warmup $WARMUP --clients \"$CLIENTS\"" \
		"--lag-clients $LAG_CLIENTS --lag-duration $LAG_DURATION --catchup-clients $CATCHUP_CLIENTS" \
		"--catchup-load $CATCHUP_LOAD --value-size $VALUE_SIZE --interval-ms $INTERVAL_MS --redis-64 $REDIS_64 --dir $BENCH_DIR" \
		"${REPLICA_DIR:+--replica-dir $REPLICA_DIR}"
}

main() {
	parse_args "$@"
	check_tools
	LOAD_BEFORE=$(load_average)
	cluster_init replication
	cluster_start r binary
	measure_modes
	measure_lag
	measure_catch_up
	print_table
}

main "$@"
