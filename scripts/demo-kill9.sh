#!/usr/bin/env bash
# A real demo of drsite's durability: four clients write, the site is killed
# with SIGKILL mid-write, restarted, and every acknowledged write is read back.
# Run from the build directory (where ./drsite is).  Loopback only.
set -euo pipefail

DRSITE=${DRSITE:-./drsite}
SECONDS_OF_LOAD=${SECONDS_OF_LOAD:-3}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/drorch-demo.XXXXXX")
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 18431)
BASE="http://127.0.0.1:$PORT"
PID=""
CLIENTS=()

cleanup() {
	for c in "${CLIENTS[@]:-}"; do [ -n "$c" ] && kill "$c" 2>/dev/null || true; done
	[ -n "$PID" ] && kill -9 "$PID" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

start_site() {
	"$DRSITE" --name demo --listen "127.0.0.1:$PORT" --data "$WORK/data" \
		>>"$WORK/drsite.log" 2>&1 &
	PID=$!
	for _ in $(seq 1 100); do
		curl -fsS "$BASE/healthz" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	echo "drsite did not start; log:" >&2
	cat "$WORK/drsite.log" >&2
	exit 1
}

# One client: PUT key c<N>-<i> = value-<N>-<i>; record each key only once the
# site has answered 200 (the write is acknowledged: fsync'd).
client() {
	local n=$1 i=0
	while :; do
		local key="c$n-$i"
		if curl -fsS -X PUT --data-binary "value-$n-$i" "$BASE/v1/kv/$key" >/dev/null 2>&1; then
			echo "$key" >>"$WORK/acked.$n"
		else
			return 0
		fi
		i=$((i + 1))
	done
}

echo "== starting drsite on $BASE (data in $WORK/data)"
start_site
echo "== 4 clients writing for ${SECONDS_OF_LOAD}s"
for n in 1 2 3 4; do client "$n" & CLIENTS+=($!); done
sleep "$SECONDS_OF_LOAD"
echo "== kill -9 drsite (pid $PID) while the clients write"
kill -9 "$PID"
wait "$PID" 2>/dev/null || true
for c in "${CLIENTS[@]}"; do wait "$c" 2>/dev/null || true; done
CLIENTS=()
ACKED=$(cat "$WORK"/acked.* | wc -l)
echo "== $ACKED writes were acknowledged before the kill"
echo "== restarting drsite"
start_site
MISSING=0
for f in "$WORK"/acked.*; do
	n=${f##*.}
	while read -r key; do
		i=${key##*-}
		got=$(curl -fsS "$BASE/v1/kv/$key" 2>/dev/null || true)
		if [ "$got" != "value-$n-$i" ]; then
			MISSING=$((MISSING + 1))
			echo "LOST: $key (got '$got')"
		fi
	done <"$f"
done
curl -fsS "$BASE/v1/status"; echo
if [ "$MISSING" -eq 0 ]; then
	echo "== OK: all $ACKED acknowledged writes survived kill -9"
else
	echo "== FAILED: $MISSING of $ACKED acknowledged writes lost"
	exit 1
fi
