#!/usr/bin/env bash
# bench/api/run.sh — drorchd's read path under load: GET /v1/status and
# GET /metrics with wrk at 64 connections (throughput and p99 latency), and
# drorchd's resident memory (VmRSS) before and after.  Each repetition runs
# on a fresh lab (3 drsite + drorchd on loopback); the table gives
# median [min..max] over the repetitions.  See bench/api/README.md.
#
# Run from the build directory after `make` (it builds nothing):
#   bench/api/run.sh [--reps 3] [--duration 10] [--connections 64] ...
# Every option also has an environment variable (in brackets in --help).
set -euo pipefail
export LC_ALL=C

DRSITE=${DRSITE:-./drsite}
DRORCHD=${DRORCHD:-./drorchd}
WRK=${WRK:-wrk}
REPS=${REPS:-3}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-4}
BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/tmp}}
KEEP=${KEEP:-0}
ENDPOINTS="/v1/status /metrics"
SITES="us-east eu-west ap-south"

usage() {
	cat <<USAGE
usage: bench/api/run.sh [options]     (run from the build directory, after make)
  --drsite PATH        drsite binary                        [DRSITE=$DRSITE]
  --drorchd PATH       drorchd binary                       [DRORCHD=$DRORCHD]
  --wrk PATH           wrk binary                           [WRK=$WRK]
  --reps N             repetitions (a fresh lab each)       [REPS=$REPS]
  --duration S         seconds of wrk per endpoint and rep  [DURATION=$DURATION]
  --connections N      wrk connections                      [CONNECTIONS=$CONNECTIONS]
  --threads N          wrk threads                          [THREADS=$THREADS]
  --dir DIR            where the lab's directories go       [BENCH_DIR=$BENCH_DIR]
  --keep               keep data directories and logs       [KEEP=1]
USAGE
}

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/../lib.sh"

parse_args() {
	while [ $# -gt 0 ]; do
		case "$1" in
		--drsite) DRSITE=$2; shift ;;
		--drorchd) DRORCHD=$2; shift ;;
		--wrk) WRK=$2; shift ;;
		--reps) REPS=$2; shift ;;
		--duration) DURATION=$2; shift ;;
		--connections) CONNECTIONS=$2; shift ;;
		--threads) THREADS=$2; shift ;;
		--dir) BENCH_DIR=$2; shift ;;
		--keep) KEEP=1 ;;
		-h|--help) usage; exit 0 ;;
		*) usage >&2; die "unknown option: $1" ;;
		esac
		shift
	done
	for v in REPS DURATION CONNECTIONS THREADS; do
		[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "${v,,} must be a positive integer"
	done
	[ "$THREADS" -le "$CONNECTIONS" ] || die "--threads must not exceed --connections"
}

check_tools() {
	[ -x "$DRSITE" ] || die "$DRSITE not found: run make first, from the build directory (or --drsite PATH)"
	[ -x "$DRORCHD" ] || die "$DRORCHD not found: run make first, from the build directory (or --drorchd PATH)"
	command -v "$WRK" >/dev/null || die "wrk not found: apt-get install wrk (or --wrk PATH)"
	command -v curl >/dev/null || die "curl not found: apt-get install curl"
}

# ---- processes: every one started here is stopped by its PID -----------------

WORK=""
PIDS=()
WRK_PID=""

lab_down() {
	local i
	stop_pid "$WRK_PID"
	WRK_PID=""
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		stop_pid "${PIDS[$i]}"
	done
	PIDS=()
}

cleanup() {
	lab_down
	remove_work
}

# lab_up REP: three sites and drorchd; returns once drorchd says STEADY.
lab_up() {
	local dir="$WORK/rep$1" name port
	mkdir -p "$dir"
	printf 'bench-api-operator-token\n' >"$dir/operator.token"
	printf 'bench-api-site-token\n' >"$dir/site.token"
	free_port
	ORCH_PORT=$FREE_PORT
	ORCH_URL="http://127.0.0.1:$ORCH_PORT"
	{
		echo "listen: 127.0.0.1:$ORCH_PORT"
		echo "db: $dir/drorch.db"
		echo "token_file: $dir/operator.token"
		echo "site_token_file: $dir/site.token"
		echo "initial_primary: us-east"
		echo "sites:"
	} >"$dir/drorchd.yaml"
	for name in $SITES; do
		free_port
		port=$FREE_PORT
		mkdir -p "$dir/$name"
		"$DRSITE" --name "$name" --listen "127.0.0.1:$port" --data "$dir/$name" \
			--token-file "$dir/site.token" >"$WORK/$name.log" 2>&1 &
		PIDS+=($!)
		wait_http "$name" "$!" "http://127.0.0.1:$port/healthz" "$WORK/$name.log"
		echo "  - {name: $name, url: \"http://127.0.0.1:$port\", region: $name-1}" >>"$dir/drorchd.yaml"
	done
	"$DRORCHD" --config "$dir/drorchd.yaml" >"$WORK/drorchd.log" 2>&1 &
	ORCH_PID=$!
	PIDS+=("$ORCH_PID")
	wait_http drorchd "$ORCH_PID" "$ORCH_URL/healthz" "$WORK/drorchd.log"
	for _ in $(seq 150); do
		curl -fsS -m 1 "$ORCH_URL/v1/status" 2>/dev/null | grep -q '"state": *"STEADY"' && return 0
		sleep 0.1
	done
	tail -n 20 "$WORK/drorchd.log" >&2
	die "the lab did not reach STEADY within 15 s (drorchd log above)"
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# ---- measuring -------------------------------------------------------------

# wrk's latency as milliseconds: "1.23ms", "850.00us", "1.02s".
to_ms() {
	awk -v v="$1" 'BEGIN {
		n = v + 0
		if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0;
		else if (v ~ /m$/) n *= 60000; else if (v ~ /s$/) n *= 1000
		printf "%.3f", n }'
}

# run_wrk REP PATH: one wrk run; appends "PATH REP rps p99_ms non2xx" to results.
run_wrk() {
	local rep=$1 path=$2 out="$WORK/wrk.out" status=0 rps p99 bad
	"$WRK" -t "$THREADS" -c "$CONNECTIONS" -d "${DURATION}s" --latency "$ORCH_URL$path" \
		>"$out" 2>&1 &
	WRK_PID=$!
	wait "$WRK_PID" || status=$?
	WRK_PID=""
	[ "$status" = 0 ] || { cat "$out" >&2; die "wrk failed on $path (output above)"; }
	rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
	p99=$(awk '$1 == "99%" { print $2 }' "$out")
	bad=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$out")
	[ -n "$rps" ] && [ -n "$p99" ] || { cat "$out" >&2; die "cannot read wrk's output (above)"; }
	[ -z "$bad" ] || { cat "$out" >&2; die "$path: $bad responses were not 2xx (is the route implemented?)"; }
	grep -q 'Socket errors' "$out" && grep 'Socket errors' "$out" >&2
	echo "$path $rep $rps $(to_ms "$p99")" >>"$WORK/results"
	printf '  rep %d/%d %-11s %10.0f req/s  p99 %8.3f ms\n' "$rep" "$REPS" "$path" "$rps" "$(to_ms "$p99")" >&2
}

# summary VALUES...: "median [min..max]" (numeric; the lower middle for an even count).
summary() {
	printf '%s\n' "$@" | sort -g | awk -v fmt="$FMT" '
		{ v[NR] = $1 }
		END { m = v[int((NR + 1) / 2)]
		      printf fmt " [" fmt ".." fmt "]", m, v[1], v[NR] }'
}

main() {
	parse_args "$@"
	check_tools
	install_traps
	WORK=$(mktemp -d "$BENCH_DIR/drorch-bench-api.XXXXXX")
	: >"$WORK/results"
	echo "bench/api: $REPS reps, ${DURATION}s of wrk per endpoint, $CONNECTIONS connections, $THREADS threads" >&2
	local rep before after
	for rep in $(seq "$REPS"); do
		lab_up "$rep"
		before=$(rss_kib "$ORCH_PID")
		for path in $ENDPOINTS; do
			run_wrk "$rep" "$path"
		done
		after=$(rss_kib "$ORCH_PID")
		echo "rss $rep $before $after" >>"$WORK/results"
		printf '  rep %d/%d drorchd VmRSS %d KiB before, %d KiB after\n' "$rep" "$REPS" "$before" "$after" >&2
		lab_down
	done

	echo
	echo "drorchd REST read path: wrk, $CONNECTIONS connections, $THREADS threads, ${DURATION}s per run; median [min..max] over $REPS reps"
	echo "$(machine), wrk: $("$WRK" -v 2>&1 | head -n 1 | cut -d' ' -f1-2)"
	echo
	printf '| %-11s | %-30s | %-30s |\n' endpoint "requests/s" "p99 latency (ms)"
	printf '|-------------|--------------------------------|--------------------------------|\n'
	for path in $ENDPOINTS; do
		# shellcheck disable=SC2046  # one value per word on purpose
		printf '| %-11s | %-30s | %-30s |\n' "$path" \
			"$(FMT=%.0f summary $(awk -v p="$path" '$1 == p { print $3 }' "$WORK/results"))" \
			"$(FMT=%.3f summary $(awk -v p="$path" '$1 == p { print $4 }' "$WORK/results"))"
	done
	echo
	printf '| %-30s | %-30s |\n' "drorchd VmRSS before (KiB)" "after (KiB)"
	printf '|--------------------------------|--------------------------------|\n'
	# shellcheck disable=SC2046
	printf '| %-30s | %-30s |\n' \
		"$(FMT=%.0f summary $(awk '$1 == "rss" { print $3 }' "$WORK/results"))" \
		"$(FMT=%.0f summary $(awk '$1 == "rss" { print $4 }' "$WORK/results"))"
}

main "$@"
