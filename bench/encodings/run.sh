#!/usr/bin/env bash
# bench/encodings/run.sh — drsite's binary WAL shipping framing against the
# JSON framing: bytes per record and encode+decode cost (encbench, in
# process), then replication under 64 concurrent writers with two real
# 3-site clusters in the same run, one whose replicas ask for binary and one
# whose replicas ask for JSON (--repl-encoding).  See bench/encodings/README.md.
#
# Run from the build directory after `make` (it builds nothing):
#   bench/encodings/run.sh [--reps 3] [--duration 3] [--clients 64] ...
set -euo pipefail
export LC_ALL=C

DRSITE=${DRSITE:-./drsite}
KVLOAD=${KVLOAD:-./bench/kv/kvload}
REPLSTAT=${REPLSTAT:-./bench/replication/replstat}
ENCBENCH=${ENCBENCH:-./bench/encodings/encbench}
CLIENTS=${CLIENTS:-64}
REPS=${REPS:-3}
DURATION=${DURATION:-3}
WARMUP=${WARMUP:-1}
CATCHUP_LOAD=${CATCHUP_LOAD:-2}
VALUE_SIZE=${VALUE_SIZE:-128}
MICRO_SIZES=${MICRO_SIZES:-"16 128 1024 8192"}
MICRO_BATCH=${MICRO_BATCH:-64}
INTERVAL_MS=${INTERVAL_MS:-20}
BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/tmp}}
KEEP=${KEEP:-0}

usage() {
	cat <<EOF
usage: bench/encodings/run.sh [options]     (run from the build directory, after make)
  --drsite PATH          drsite binary                            [DRSITE=$DRSITE]
  --kvload PATH          load generator                           [KVLOAD=$KVLOAD]
  --replstat PATH        status sampler                           [REPLSTAT=$REPLSTAT]
  --encbench PATH        framing micro-benchmark                  [ENCBENCH=$ENCBENCH]
  --clients N            concurrent writers                       [CLIENTS=$CLIENTS]
  --reps N               repetitions of every point               [REPS=$REPS]
  --duration S           measured seconds per load run            [DURATION=$DURATION]
  --warmup S             unmeasured seconds before each run       [WARMUP=$WARMUP]
  --catchup-load S       seconds of load while replicas paused    [CATCHUP_LOAD=$CATCHUP_LOAD]
  --value-size B         bytes per value in the cluster runs      [VALUE_SIZE=$VALUE_SIZE]
  --micro-sizes "LIST"   value sizes for encbench                 [MICRO_SIZES="$MICRO_SIZES"]
  --micro-batch N        records per frame in encbench            [MICRO_BATCH=$MICRO_BATCH]
  --interval-ms MS       /v1/status sampling interval             [INTERVAL_MS=$INTERVAL_MS]
  --dir DIR              where the data directories go; real disk [BENCH_DIR=$BENCH_DIR]
  --keep                 keep data directories and logs           [KEEP=1]
EOF
}

# shellcheck source=bench/replication/cluster.sh
. "$(dirname "$0")/../replication/cluster.sh"

parse_args() {
	while [ $# -gt 0 ]; do
		case "$1" in
		--drsite) DRSITE=$2; shift ;;
		--kvload) KVLOAD=$2; shift ;;
		--replstat) REPLSTAT=$2; shift ;;
		--encbench) ENCBENCH=$2; shift ;;
		--clients) CLIENTS=$2; shift ;;
		--reps) REPS=$2; shift ;;
		--duration) DURATION=$2; shift ;;
		--warmup) WARMUP=$2; shift ;;
		--catchup-load) CATCHUP_LOAD=$2; shift ;;
		--value-size) VALUE_SIZE=$2; shift ;;
		--micro-sizes) MICRO_SIZES=$2; shift ;;
		--micro-batch) MICRO_BATCH=$2; shift ;;
		--interval-ms) INTERVAL_MS=$2; shift ;;
		--dir) BENCH_DIR=$2; shift ;;
		--keep) KEEP=1 ;;
		-h|--help) usage; exit 0 ;;
		*) usage >&2; die "unknown option: $1" ;;
		esac
		shift
	done
	[[ $REPS =~ ^[1-9][0-9]*$ ]] || die "--reps must be a positive integer"
	[[ $CLIENTS =~ ^[1-9][0-9]*$ ]] || die "--clients must be one positive integer"
	[ -x "$ENCBENCH" ] || die "$ENCBENCH not found: run make first, from the build directory (or --encbench PATH)"
	CATCHUP_CLIENTS=$CLIENTS
}

# ---- measuring -------------------------------------------------------------

measure_micro() {
	local args=() s line
	for s in $MICRO_SIZES; do args+=(--value-size "$s"); done
	run_bg encbench "$ENCBENCH" "${args[@]}" --batch "$MICRO_BATCH" --reps "$REPS" --min-ms 200
	while read -r line; do
		echo "micro:$(field "$line" value_size) $line" >>"$WORK/results"
	done <"$WORK/encbench.out"
}

# Per rep and encoding: sync quorum 1, async (lag, shipping rate), catch-up.
# Reps alternate which cluster goes first.
measure_clusters() {
	local rep e
	for rep in $(seq "$REPS"); do
		for e in $( [ $((rep % 2)) = 1 ] && echo "binary json" || echo "json binary"); do
			set_mode "$e" sync 1
			load_point "$e" "$CLIENTS" "$DURATION" "s$rep-"
			echo "sync:$e rep=$rep $POINT" >>"$WORK/results"
			printf '  %-7s sync  rep %d/%d: %s writes/s p50 %s us p99 %s us\n' "$e" "$rep" "$REPS" \
				"$(field "$POINT" ops_per_sec)" "$(field "$POINT" p50_us)" "$(field "$POINT" p99_us)" >&2
			set_mode "$e" async 1
			load_point "$e" "$CLIENTS" "$DURATION" "a$rep-"
			echo "async:$e rep=$rep $POINT" >>"$WORK/results"
			printf '  %-7s async rep %d/%d: %s writes/s, lag p99 %s records %s ms\n' "$e" "$rep" "$REPS" \
				"$(field "$POINT" ops_per_sec)" "$(field "$POINT" lag_records_p99)" "$(field "$POINT" lag_ms_p99)" >&2
			catch_up_point "$e" "$CATCHUP_LOAD" "c$rep-"
			echo "catchup:$e rep=$rep $POINT" >>"$WORK/results"
			printf '  %-7s catch-up rep %d/%d: %s records in %s s\n' "$e" "$rep" "$REPS" \
				"$(field "$POINT" catch_up_records)" "$(field "$POINT" catch_up_secs)" >&2
		done
	done
}

# ---- the table -------------------------------------------------------------

print_table() {
	local s e f
	echo
	echo "bench/encodings: binary vs JSON WAL shipping framing"
	machine_line
	echo "cells: median [min..max] over $REPS reps"
	echo
	echo "(1) framing in process (encbench): $MICRO_BATCH records per frame; ns per record, wall clock"
	f='%-6s %-16s %-16s %-8s %-20s %-20s %-22s %-22s %s\n'
	# shellcheck disable=SC2059  # one format for header and rows
	printf "$f" value "bin B/rec" "json B/rec" "json/bin" "bin enc ns" "bin dec ns" "json enc ns" "json dec ns" "json/bin enc+dec"
	for s in $MICRO_SIZES; do
		local k="micro:$s" ratio_b ratio_c
		ratio_b=$(awk -v a="$(median "$k" json_bytes)" -v b="$(median "$k" bin_bytes)" 'BEGIN { printf "%.2fx", a / b }')
		ratio_c=$(awk '$1 == k' k="$k" "$WORK/results" | while read -r line; do
				awk -v be="$(field "$line" bin_enc_ns)" -v bd="$(field "$line" bin_dec_ns)" \
					-v je="$(field "$line" json_enc_ns)" -v jd="$(field "$line" json_dec_ns)" \
					'BEGIN { printf "%.0f\n", (je + jd) / (be + bd) }'
			done | spread | awk '{ printf "%sx [%s..%s]", $1, $2, $3 }')
		# shellcheck disable=SC2059
		printf "$f" "$s" "$(median "$k" bin_bytes)" "$(median "$k" json_bytes)" "$ratio_b" \
			"$(cell "$k" bin_enc_ns %.0f)" "$(cell "$k" bin_dec_ns %.0f)" \
			"$(cell "$k" json_enc_ns %.0f)" "$(cell "$k" json_dec_ns %.0f)" "$ratio_c"
	done
	echo
	echo "(2) replication, two 3-site clusters (replicas --repl-encoding binary | json), $CLIENTS concurrent writers, ${VALUE_SIZE}-byte values,"
	echo "    ${DURATION} s measured (+${WARMUP} s warm-up); CPU = utime+stime of the drsite over the window / writes (replica: b)"
	f='%-24s %-7s %-22s %-20s %-22s %-20s %s\n'
	# shellcheck disable=SC2059
	printf "$f" "" framing "writes/s" "p50 us" "p99 us" "primary CPU us/w" "replica CPU us/w"
	for e in binary json; do
		# shellcheck disable=SC2059
		printf "$f" "sync quorum 1" "$e" "$(cell "sync:$e" ops_per_sec %.0f)" "$(cell "sync:$e" p50_us %.0f)" \
			"$(cell "sync:$e" p99_us %.0f)" "$(cell "sync:$e" cpu_a_us_per_write %.1f)" \
			"$(cell "sync:$e" cpu_b_us_per_write %.1f)"
	done
	printf '%-24s json/binary throughput: %s\n' "" "$(ratio_line sync:json sync:binary ops_per_sec)"
	for e in binary json; do
		# shellcheck disable=SC2059
		printf "$f" "async" "$e" "$(cell "async:$e" ops_per_sec %.0f)" "$(cell "async:$e" p50_us %.0f)" \
			"$(cell "async:$e" p99_us %.0f)" "$(cell "async:$e" cpu_a_us_per_write %.1f)" \
			"$(cell "async:$e" cpu_b_us_per_write %.1f)"
	done
	printf '%-24s json/binary throughput: %s\n' "" "$(ratio_line async:json async:binary ops_per_sec)"
	echo
	f='%-24s %-7s %-22s %-22s %-20s %s\n'
	# shellcheck disable=SC2059
	printf "$f" "" framing "lag records p99" "lag ms p99" "records/s shipped" "MB/s (WAL bytes)"
	for e in binary json; do
		# shellcheck disable=SC2059
		printf "$f" "async, streaming" "$e" "$(cell "async:$e" lag_records_p99 %.0f)" "$(cell "async:$e" lag_ms_p99 %.0f)" \
			"$(cell "async:$e" ship_records_per_sec %.0f)" "$(cell "async:$e" ship_mb_per_sec %.2f)"
	done
	for e in binary json; do
		# shellcheck disable=SC2059
		printf "$f" "catch-up (${CATCHUP_LOAD} s paused)" "$e" "-" "-" \
			"$(cell "catchup:$e" ship_records_per_sec %.0f)" "$(cell "catchup:$e" ship_mb_per_sec %.2f)"
	done
	printf '%-24s json/binary catch-up rate: %s\n' "" "$(ratio_line catchup:json catchup:binary ship_records_per_sec)"
	echo
	echo "rerun: bench/encodings/run.sh --reps $REPS --clients $CLIENTS --duration $DURATION --warmup $WARMUP" \
		"--catchup-load $CATCHUP_LOAD --value-size $VALUE_SIZE --micro-sizes \"$MICRO_SIZES\"" \
		"--micro-batch $MICRO_BATCH --interval-ms $INTERVAL_MS --dir $BENCH_DIR"
}

main() {
	parse_args "$@"
	check_tools
	LOAD_BEFORE=$(load_average)
	cluster_init encodings
	measure_micro
	cluster_start binary binary
	cluster_start json json
	measure_clusters
	print_table
}

main "$@"
