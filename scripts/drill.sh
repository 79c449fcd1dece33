#!/usr/bin/env bash
# The DR drill: a three-site lab, clients writing to the primary, the primary
# killed with SIGKILL, drorchd's automatic failover watched live, the run's
# audit (measured RPO/RTO against the policy), then every acknowledged write
# read back from the new primary; then the old primary's return and a
# failback to it.  Run from the build directory (where
# ./drctl, ./drsite, ./drlink and ./drorchd are).  Loopback only.
#
#   SECONDS_OF_LOAD=3 CLIENTS=4 KEEP=1 FAILBACK=1 scripts/drill.sh
#
# FAILBACK=1 (the default) then restarts the old primary, lets it rejoin
# (rewound if its log diverged) and fails back to it with `drctl failback`,
# reading every acknowledged write back once more.
# KEEP=1 keeps the lab directory (logs, data, SQLite store); it is kept
# anyway when the drill fails.
set -euo pipefail

DRCTL=${DRCTL:-./drctl}
SECONDS_OF_LOAD=${SECONDS_OF_LOAD:-3}
CLIENTS=${CLIENTS:-4}
KEEP=${KEEP:-0}
FAILBACK=${FAILBACK:-1}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/drorch-drill.XXXXXX")
LAB="$WORK/lab"
PIDS=()
OK=0

cleanup() {
	touch "$WORK/stop"
	for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
	[ -f "$LAB/lab.json" ] && "$DRCTL" --lab "$LAB" lab down >/dev/null 2>&1 || true
	if [ "$OK" = 1 ] && [ "$KEEP" = 0 ]; then
		rm -rf "$WORK"
	else
		echo "== lab directory kept: $LAB" >&2
	fi
}
trap cleanup EXIT

# A top-level string field of lab.json or of a --json answer (indented 2).
field() { sed -n "s/^  \"$1\": \"\(.*\)\",\{0,1\}$/\1/p"; }

# The primary's URL, as drorchd redirects to it (GET /v1/primary: 307).
primary_url() {
	local u
	u=$(curl -s -o /dev/null -w '%{redirect_url}' --max-time 2 "$URL/v1/primary" 2>/dev/null || true)
	echo "${u%/}"
}

# One client: PUT d<N>-<i> = v-<N>-<i> to whichever site is primary; a key is
# recorded only once the site answered 200 (acknowledged under sync mode).
client() {
	local n=$1 i=0 base
	base=$(primary_url)
	while [ ! -e "$WORK/stop" ]; do
		if [ -n "$base" ] && curl -fsS --max-time 3 -X PUT --data-binary "v-$n-$i" \
			"$base/v1/kv/d$n-$i" >/dev/null 2>&1; then
			echo "d$n-$i" >>"$WORK/acked.$n"
		else
			sleep 0.05
			base=$(primary_url)
		fi
		i=$((i + 1))
	done
}

echo "== drctl lab up --dir $LAB"
"$DRCTL" lab up --dir "$LAB"
URL=$(field url <"$LAB/lab.json")
PRIMARY=$("$DRCTL" --lab "$LAB" status --json | field primary)
echo
"$DRCTL" --lab "$LAB" status
echo
echo "== $CLIENTS clients writing to the primary ($PRIMARY) for ${SECONDS_OF_LOAD}s"
for n in $(seq 1 "$CLIENTS"); do client "$n" & PIDS+=($!); done
sleep "$SECONDS_OF_LOAD"
echo "== drctl --lab DIR lab kill $PRIMARY   (kill -9, the clients keep writing)"
"$DRCTL" --lab "$LAB" lab kill "$PRIMARY"
"$DRCTL" --lab "$LAB" watch --from "$PRIMARY" --timeout 30
sleep 1   # the clients find the new primary and write to it
touch "$WORK/stop"
for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
PIDS=()
NEW=$("$DRCTL" --lab "$LAB" status --json | field primary)
echo
echo "== drctl audit (the newest run)"
"$DRCTL" --lab "$LAB" audit
echo
ACKED=$(cat "$WORK"/acked.* 2>/dev/null | wc -l || true)

# Reads every acknowledged write back from the primary; prints LOST lines
# and sets LOST to their count.
verify() {
	local base f n key i got
	base=$(primary_url)
	LOST=0
	for f in "$WORK"/acked.*; do
		n=${f##*.}
		while read -r key; do
			i=${key##*-}
			got=$(curl -fsS --max-time 3 "$base/v1/kv/$key" 2>/dev/null || true)
			if [ "$got" != "v-$n-$i" ]; then
				LOST=$((LOST + 1))
				echo "LOST: $key (got '$got')"
			fi
		done <"$f"
	done
}

echo "== reading the $ACKED acknowledged writes back from the new primary ($NEW)"
verify
LOST_FAILOVER=$LOST

# Failback: the old primary restarts, rejoins as a replica (rewound if its
# log diverged: its divergent records go to a quarantine file the audit of
# the failover names), then a planned zero-loss switchover returns it.
BACK=-
if [ "$FAILBACK" = 1 ] && [ "$NEW" != "$PRIMARY" ]; then
	echo
	echo "== drctl --lab DIR lab start $PRIMARY   (the old primary returns)"
	"$DRCTL" --lab "$LAB" lab start "$PRIMARY"
	for _ in $(seq 1 100); do
		"$DRCTL" --lab "$LAB" status --json | grep -q '"state": "STEADY"' && break
		sleep 0.2
	done
	"$DRCTL" --lab "$LAB" status
	echo
	echo "== drctl failback --yes   (writes pause until $PRIMARY has caught up)"
	"$DRCTL" --lab "$LAB" failback --yes --timeout 60 || true
	"$DRCTL" --lab "$LAB" audit
	BACK=$("$DRCTL" --lab "$LAB" status --json | field primary)
	echo "== reading the $ACKED acknowledged writes back from $BACK"
	verify
fi
echo "== drctl lab down"
"$DRCTL" --lab "$LAB" lab down
if [ "$LOST_FAILOVER" -eq 0 ] && [ "$LOST" -eq 0 ] && [ "$ACKED" -gt 0 ] &&
	[ "$NEW" != "$PRIMARY" ] && { [ "$FAILBACK" = 0 ] || [ "$BACK" = "$PRIMARY" ]; }; then
	OK=1
	echo "== OK: failover $PRIMARY -> $NEW, failback -> $BACK; acknowledged $ACKED, lost = 0"
else
	echo "== FAILED: failover $PRIMARY -> $NEW (lost $LOST_FAILOVER), failback -> $BACK" \
		"(lost $LOST); acknowledged $ACKED"
	exit 1
fi
