# bench/replication/cluster.sh — sourced by bench/replication/run.sh and
# bench/encodings/run.sh: start 3-site drsite clusters as real processes on
# loopback, change the primary's mode, run one kvload point with replstat
# sampling beside it, pause replicas for a catch-up, stop everything by PID,
# and print "median [min..max]" cells.  Not a program on its own.
#
# The caller sets DRSITE, KVLOAD, REPLSTAT, BENCH_DIR, KEEP, VALUE_SIZE,
# WARMUP, and calls cluster_init once (it installs the exit trap).

WORK=""
TOKEN=""
SITE_PIDS=()           # every drsite started, stopped by PID on exit
BG_PID=""              # the kvload or replstat being waited for, if any
SAMPLER_PID=""         # replstat sampling beside kvload, if running
HB_PID=""              # the heartbeat loop, if running
declare -A PORT        # PORT[cluster:site]
declare -A PID         # PID[cluster:site]

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

check_tools() {
	[ -x "$KVLOAD" ] || die "$KVLOAD not found: run make first, from the build directory (or --kvload PATH)"
	[ -x "$DRSITE" ] || die "$DRSITE not found: run make first, from the build directory (or --drsite PATH)"
	[ -x "$REPLSTAT" ] || die "$REPLSTAT not found: run make first, from the build directory (or --replstat PATH)"
	command -v curl >/dev/null || die "curl not found: apt-get install curl"
	refuse_tmpfs "$BENCH_DIR"
	if [ -n "${REPLICA_DIR:-}" ]; then
		[ -d "$REPLICA_DIR" ] || die "--replica-dir $REPLICA_DIR is not a directory"
		REPLICA_FS_TYPE=$(stat -f -c %T "$REPLICA_DIR")
	fi
}

cleanup() {
	local pid
	stop_pid "$BG_PID"
	stop_pid "$SAMPLER_PID"
	stop_pid "$HB_PID"
	for pid in "${SITE_PIDS[@]}"; do
		stop_pid "$pid"
	done
	remove_work
	if [ -n "${REPL_WORK:-}" ] && [ "${KEEP:-0}" != 1 ]; then
		rm -rf "$REPL_WORK"
	fi
}

cluster_init() {
	install_traps
	WORK=$(mktemp -d "$BENCH_DIR/drorch-bench-$1.XXXXXX")
	REPL_WORK=
	if [ -n "${REPLICA_DIR:-}" ]; then  # the replicas' data dirs (a profile)
		REPL_WORK=$(mktemp -d "$REPLICA_DIR/drorch-bench-$1-replicas.XXXXXX")
	fi
	head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$WORK/token"
	chmod 600 "$WORK/token"
	TOKEN=$(cat "$WORK/token")
	: >"$WORK/results"
}

# http METHOD PORT PATH [BODY]: the body on stdout; fails unless HTTP 200.
http() {
	local code
	code=$(curl -sS -m 5 -o "$WORK/http.out" -w '%{http_code}' -X "$1" \
		-H "Authorization: Bearer $TOKEN" ${4:+-d "$4"} "http://127.0.0.1:$2$3") || code=000
	[ "$code" = 200 ] || { echo "run.sh: $1 127.0.0.1:$2$3: HTTP $code $(cat "$WORK/http.out" 2>/dev/null)" >&2; return 1; }
	cat "$WORK/http.out"
}

# wait_for NAME SECONDS COMMAND...: polls COMMAND every 0.1 s.
wait_for() {
	local what=$1 secs=$2
	shift 2
	for _ in $(seq $((secs * 10))); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	die "$what: not ready after $secs s (logs in $WORK, rerun with --keep)"
}

streaming_peers() {
	local n
	n=$(curl -sS -m 2 "http://127.0.0.1:$1/v1/status" | grep -o '"state":"streaming"' | wc -l)
	[ "$n" -ge "$2" ]
}

# cluster_start NAME ENCODING: sites NAME-a (primary, async), NAME-b, NAME-c
# (replicas with --repl-encoding ENCODING), each on its own data directory.
cluster_start() {
	local name=$1 enc=$2 s
	local data
	for s in a b c; do
		free_port
		PORT[$name:$s]=$FREE_PORT
		data="$WORK/$name-$s"
		[ "$s" = a ] || [ -z "$REPL_WORK" ] || data="$REPL_WORK/$name-$s"
		mkdir -p "$data"
		"$DRSITE" --name "$name-$s" --listen "127.0.0.1:$FREE_PORT" --data "$data" \
			--token-file "$WORK/token" --repl-encoding "$enc" --log-level warn \
			>"$WORK/$name-$s.log" 2>&1 &
		PID[$name:$s]=$!
		SITE_PIDS+=("$!")
	done
	for s in a b c; do
		wait_http "$name-$s" "${PID[$name:$s]}" "http://127.0.0.1:${PORT[$name:$s]}/healthz" \
			"$WORK/$name-$s.log"
	done
	http POST "${PORT[$name:a]}" /v1/admin/role '{"role":"primary","epoch":1,"mode":"async","quorum":1}' >/dev/null
	for s in b c; do
		http POST "${PORT[$name:$s]}" /v1/admin/role \
			"{\"role\":\"replica\",\"epoch\":1,\"primary\":\"127.0.0.1:${PORT[$name:a]}\"}" >/dev/null
	done
	wait_for "$name replicas streaming" 10 streaming_peers "${PORT[$name:a]}" 2
	echo "run.sh: cluster $name ($enc framing): a pid ${PID[$name:a]} :${PORT[$name:a]}," \
		"b pid ${PID[$name:b]} :${PORT[$name:b]}, c pid ${PID[$name:c]} :${PORT[$name:c]}" >&2
}

# set_mode CLUSTER MODE QUORUM: same epoch, so the primary only changes mode.
set_mode() {
	http POST "${PORT[$1:a]}" /v1/admin/role "{\"role\":\"primary\",\"epoch\":1,\"mode\":\"$2\",\"quorum\":$3}" >/dev/null ||
		die "cannot set $1 to $2 quorum $3"
}


# run_bg LOGNAME COMMAND...: runs in the background (so a signal cleans up at
# once) and waits; its stdout is in $WORK/LOGNAME.out.
run_bg() {
	local log=$1 status=0
	shift
	"$@" >"$WORK/$log.out" 2>"$WORK/$log.err" &
	BG_PID=$!
	wait "$BG_PID" || status=$?
	BG_PID=""
	if [ "$status" != 0 ]; then
		cat "$WORK/$log.err" >&2
		die "$1 failed (error above; logs in $WORK with --keep)"
	fi
}

# load_point CLUSTER CLIENTS DURATION KEYPREFIX: kvload against the primary
# with replstat sampling over the same measured window; sets POINT to both
# lines joined.
load_point() {
	local cl=$1 c=$2 dur=$3 prefix=$4 status=0
	"$REPLSTAT" --port "${PORT[$cl:a]}" --replica-port "${PORT[$cl:b]}" \
		--replica-port "${PORT[$cl:c]}" --pid "a=${PID[$cl:a]}" --pid "b=${PID[$cl:b]}" \
		--pid "c=${PID[$cl:c]}" --delay "$WARMUP" --duration "$dur" --interval-ms "$INTERVAL_MS" \
		>"$WORK/replstat.out" 2>"$WORK/replstat.err" &
	SAMPLER_PID=$!
	run_bg kvload "$KVLOAD" --target drsite --port "${PORT[$cl:a]}" --clients "$c" \
		--duration "$dur" --warmup "$WARMUP" --value-size "$VALUE_SIZE" --key-prefix "$prefix"
	wait "$SAMPLER_PID" || status=$?
	SAMPLER_PID=""
	[ "$status" = 0 ] || { cat "$WORK/replstat.err" >&2; die "replstat failed"; }
	POINT="$(cat "$WORK/kvload.out") $(cat "$WORK/replstat.out")"
}

# heartbeat CLUSTER: the orchestrator's heartbeat every 100 ms, so an async
# primary keeps its lease while its replicas are paused.  Runs until killed.
heartbeat() {
	while :; do
		curl -s -m 1 -o /dev/null -H "Authorization: Bearer $TOKEN" -d '{"epoch":1}' \
			"http://127.0.0.1:${PORT[$1:a]}/v1/admin/heartbeat" || true
		sleep 0.1
	done
}

# catch_up_point CLUSTER LOAD_SECS KEYPREFIX: pauses both replicas (SIGSTOP),
# loads the async primary for LOAD_SECS at CATCHUP_CLIENTS, then resumes them
# and times how long they take to apply everything; sets POINT.
catch_up_point() {
	local cl=$1 secs=$2 prefix=$3 load snaps_before
	snaps_before=$(snapshots "$cl")
	heartbeat "$cl" &
	HB_PID=$!
	kill -STOP "${PID[$cl:b]}" "${PID[$cl:c]}"
	run_bg kvload "$KVLOAD" --target drsite --port "${PORT[$cl:a]}" --clients "$CATCHUP_CLIENTS" \
		--duration "$secs" --warmup 0 --value-size "$VALUE_SIZE" --key-prefix "$prefix"
	load=$(cat "$WORK/kvload.out")
	run_bg replstat "$REPLSTAT" --port "${PORT[$cl:a]}" --replica-port "${PORT[$cl:b]}" \
		--replica-port "${PORT[$cl:c]}" --catch-up --cont "${PID[$cl:b]}" --cont "${PID[$cl:c]}" \
		--duration 60 --interval-ms 5
	stop_pid "$HB_PID"
	HB_PID=""
	wait_for "$cl replicas streaming again" 10 streaming_peers "${PORT[$cl:a]}" 2
	POINT="$load $(cat "$WORK/replstat.out") snapshots=$(($(snapshots "$cl") - snaps_before))"
}

# snapshots CLUSTER: snapshots the two replicas have installed (a replica
# whose next record a checkpoint removed catches up from a snapshot).
snapshots() {
	local s n total=0
	for s in b c; do
		n=$(curl -sS -m 2 "http://127.0.0.1:${PORT[$1:$s]}/v1/status" | grep -o '"snapshots":[0-9]*' | cut -d: -f2)
		total=$((total + ${n:-0}))
	done
	echo "$total"
}

# ---- cells ---------------------------------------------------------------------

# values KEY NAME: NAME over every result line whose first field is KEY.
values() {
	awk -v k="$1" '$1 == k' "$WORK/results" | while read -r line; do field "$line" "$2"; done
}

# cell KEY NAME FORMAT: "median [min..max]" of a field over the reps.
cell() {
	local m lo hi
	read -r m lo hi < <(values "$1" "$2" | spread)
	[ "$m" = NA ] && { echo "-"; return; }
	# shellcheck disable=SC2059  # the caller's number format, used three times
	printf "$3 [$3..$3]" "$m" "$lo" "$hi"
}

median() { values "$1" "$2" | spread | cut -d' ' -f1; }

# ratio_line KEY_A KEY_B NAME: ratio of medians of NAME, and per-rep range.
ratio_line() {
	local a b lo hi
	a=$(median "$1" "$3")
	b=$(median "$2" "$3")
	read -r _ lo hi < <(paste -d' ' <(values "$1" "$3") <(values "$2" "$3") |
		awk '$2 > 0 { printf "%.2f\n", $1 / $2 }' | spread)
	printf '%.2fx (ratio of medians; per-rep %s..%s)' \
		"$(awk -v x="$a" -v y="$b" 'BEGIN { print (y > 0 ? x / y : 0) }')" "$lo" "$hi"
}

machine_line() {
	echo "machine: $(machine), data on $FS_TYPE ($WORK), load average before: $LOAD_BEFORE"
	if [ -n "$REPL_WORK" ]; then
		echo "profile: the replicas' data on $REPLICA_FS_TYPE ($REPL_WORK), not the primary's disk"
	fi
}
