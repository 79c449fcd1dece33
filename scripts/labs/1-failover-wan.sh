#!/usr/bin/env bash
# Lab 1 (docs/labs/1-failover-wan.md): a cross-region failover, kill -9 of the
# primary, on a LAN, then over a WAN of 80 ms RTT and 1 % loss, in sync and in
# async mode with writes running; RPO and RTO of each from `drctl runs --json`.
# Over the WAN the primary's region goes dark as regions do, its links first:
# they reset (what was on the wire is gone) 0.2 s before the kill.  The same
# fault in both modes: sync acknowledged nothing in those 0.2 s, async did.
#   scripts/labs/1-failover-wan.sh [--short] [--out DIR]
# --short: one kill per scenario, 1.5 s of load; full: 3 kills per scenario.
. "$(dirname "$0")/lib.sh"
reps=3; [ "$mode" = short ] && reps=1
echo "lab 1: output in $out"
: >"$out/results.txt"

wan() {  # 40 ms one way (80 ms RTT) and 1 % loss on every site-to-site link
	for p in "us-east eu-west" "us-east ap-south" "eu-west ap-south"; do
		"$DRCTL" --lab "$lab" wan set $p --delay 40ms --loss 1% >/dev/null
	done
	run "$DRCTL" --lab "$lab" wan show
}

# ackloop URL FILE: PUT ack-1, ack-2, ... to URL one at a time; each key
# acknowledged (HTTP 200) is appended to FILE.  Stops at the first failure.
ackloop() {
	: >"$2"; n=1
	while [ "$(curl -s -m 3 -o /dev/null -w '%{http_code}' -X PUT "$1/v1/kv/ack-$n" -d "$n")" = 200 ]; do
		echo "ack-$n" >>"$2"; n=$((n + 1))
	done
}

# darken STATE: us-east's links to both other sites to --partition STATE (both
# at once, so that neither replica gets what the other lacks); reset keeps the
# WAN's latency and loss, none heals.
darken() {
	"$DRCTL" --lab "$lab" wan set us-east eu-west --partition "$1" >/dev/null & d1=$!
	"$DRCTL" --lab "$lab" wan set us-east ap-south --partition "$1" >/dev/null & d2=$!
	r1=0; r2=0
	wait $d1 || r1=$?
	wait $d2 || r2=$?
	[ $r1 -eq 0 ] && [ $r2 -eq 0 ] || fail "wan set us-east --partition $1"
	echo "\$ drctl --lab $lab wan set us-east {eu-west,ap-south} --partition $1"
}

# scenario NAME REP WAN(0|1) POLICY(-|FILE)
scenario() {
	say "scenario $1 (rep $2): wan=$3 policy=$4"
	lab_start "lab-$1-$2"
	[ "$3" = 1 ] && wan
	[ "$4" = - ] || run "$DRCTL" --lab "$lab" policy apply "$4" --yes
	port=$(site_url "$lab" 1); port=${port##*:}
	# Writes to the primary during the kill: 8 clients, stopped by the kill.
	"$build/bench/kv/kvload" --target drsite --port "$port" --clients 8 --duration 10 \
		--warmup 0 --timeout-ms 3000 >"$lab.kvload.out" 2>&1 &
	kv=$!; bg_pids="$bg_pids $kv"
	# and one client that remembers which of its writes were acknowledged (200)
	ackloop "$(site_url "$lab" 1)" "$lab.acked" &
	al=$!; bg_pids="$bg_pids $al"
	sleep 1.5
	run "$DRCTL" --lab "$lab" status
	[ "$3" = 1 ] && { darken reset; sleep 0.2; }
	run "$DRCTL" --lab "$lab" lab kill us-east
	run "$DRCTL" --lab "$lab" watch --from us-east --timeout 30 || fail "$1: no failover"
	[ "$3" = 1 ] && darken none
	wait "$kv" || true
	kill "$al" 2>/dev/null || true; wait "$al" 2>/dev/null || true
	bg_pids=$(echo "$bg_pids" | tr ' ' '\n' | grep -vx "$kv" | grep -vx "$al" | tr '\n' ' ')
	# every acknowledged write of the curl loop, read back from the new primary
	new=$("$DRCTL" --lab "$lab" status --json | jq -r '.primary')
	nurl=$(jq -r --arg n "$new" '.sites[] | select(.name == $n) | .url' "$lab/lab.json")
	acked=$(wc -l <"$lab.acked"); lost=0
	for k in $(cat "$lab.acked"); do
		[ "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$nurl/v1/kv/$k")" = 200 ] || lost=$((lost + 1))
	done
	echo "acknowledged writes of the curl loop: $acked, missing on the new primary $new: $lost"
	echo "kvload (stops at the kill): $(grep '^target=' "$lab.kvload.out" | tr ' ' '\n' | grep -E '^(ops|ops_per_sec|p50_us|p99_us)=' | tr '\n' ' ')"
	run "$DRCTL" --lab "$lab" runs
	"$DRCTL" --lab "$lab" audit >"$lab.audit.txt"
	echo "$ drctl --lab $lab audit   (transitions; the whole audit in $lab.audit.txt)"
	sed -n '/^transitions:/,$p' "$lab.audit.txt"
	if [ "$4" != - ]; then
		say "$1: the old primary comes back; its records the new primary lacks are rewound"
		run "$DRCTL" --lab "$lab" lab start us-east
		t=0; tmax=15  # wait for the rejoin: REJOINING, then STEADY
		while [ $t -lt $tmax ] && ! "$DRCTL" --lab "$lab" status | head -n 1 | grep -q STEADY; do sleep 1; t=$((t + 1)); done
		run "$DRCTL" --lab "$lab" status
		run "$DRCTL" --lab "$lab" runs
		"$DRCTL" --lab "$lab" audit 1 >"$lab.audit-after.txt"
		echo "\$ drctl --lab $lab audit 1 | grep -E 'RPO|rewind'"
		grep -E 'RPO|rewind' "$lab.audit-after.txt" || true
		echo "\$ grep -E 'J0[0-9]|rewind' $lab/drorchd.log | jq -c '{event, row, reason, error}'  (first 4)"
		grep -E '"row":"J0|rewind' "$lab/drorchd.log" | head -n 4 | jq -c '{event, row, reason, error}' || true
	fi
	# The run's figures once the old primary is back: in async mode its
	# rewind raises the RPO to the records it really held.
	"$DRCTL" --lab "$lab" runs --json >"$lab.runs.json"
	jq -r --arg s "$1" --arg a "$acked" --arg l "$lost" '.runs[0] | "\($s) \(.rpo_records) \(.rpo_ms) \(.rto_ms) \(.detail.phases_ms.detection) \(.detail.phases_ms.fence_and_elect) \(.outcome) \($a) \($l)"' \
		"$lab.runs.json" >>"$out/results.txt"
	lab_stop "lab-$1-$2"
}

i=1
while [ $i -le $reps ]; do
	scenario lan-sync $i 0 -
	scenario wan-sync $i 1 -
	scenario wan-async $i 1 "$src/policies/examples/async-5s-rpo.yaml"
	i=$((i + 1))
done

say "results (one line per failover, from drctl runs --json)"
{
	printf '%-10s %11s %7s %7s %12s %15s %-10s %6s %11s\n' SCENARIO RPO_RECORDS RPO_MS RTO_MS DETECTION_MS FENCE_ELECT_MS OUTCOME ACKED ACKED_LOST
	while read -r s a b c d e f g h; do
		printf '%-10s %11s %7s %7s %12s %15s %-10s %6s %11s\n' "$s" "$a" "$b" "$c" "$d" "$e" "$f" "$g" "$h"
	done <"$out/results.txt"
} | tee "$out/results.table"
awk '{ n[$1]++; rto[$1] += $4; rpo[$1] += $2 } END { for (s in n) printf "%s mean_rto_ms %d\n%s mean_rpo_records %d\n", s, rto[s] / n[s], s, rpo[s] / n[s] }' \
	"$out/results.txt" | sort >"$out/means.txt"
awk '{ split($1, a, "-"); print a[1] "-" a[2], ($2 == "mean_rto_ms" ? "RTO ms" : "RPO records"), $3 }' "$out/means.txt" |
	grep 'RTO ms' | svg_bars "$out/rto.svg" "Lab 1: RTO by scenario (mean of $reps)" "RTO (ms)"
awk '$2 == "mean_rpo_records" { print $1, "RPO records", $3 }' "$out/means.txt" |
	svg_bars "$out/rpo.svg" "Lab 1: RPO by scenario (mean of $reps)" "records lost"
echo "lab 1 done: $out (results.table, rto.svg, rpo.svg, one lab directory per kill)"
