#!/usr/bin/env bash
# Lab 2 (docs/labs/2-partition.md): partitions.  (A) the primary cut off from
# everyone (drlink blackhole on every link to and from us-east): detection,
# fencing, election; the old primary refuses writes (503) once its lease has
# expired and, healed, rejoins as a replica of the newer epoch.  (B) the primary
# cut off from drorchd only: nothing fails over, the audit stays quiet.
#   scripts/labs/2-partition.sh [--short] [--out DIR]
# --short: 8 writes 250 ms apart in (A), 6 in (B); full: 20 and 20.
. "$(dirname "$0")/lib.sh"
nA=20; nB=20; [ "$mode" = short ] && { nA=8; nB=6; }
echo "lab 2: output in $out"

# write_loop URL N LOG: one PUT every 250 ms straight to URL (not through drlink:
# the client is in us-east's region), with the cluster's state beside it.
write_loop() {
	i=1
	while [ $i -le "$2" ]; do
		r=$(curl -s -m 5 -X PUT "$1/v1/kv/lab2-$i" -d v -w ' HTTP %{http_code}' || true)
		printf '%s  PUT lab2-%-2d -> %s   | %s\n' "$(date -u +%T.%3N)" $i "$r" \
			"$("$DRCTL" --lab "$lab" status | head -n 1)"
		sleep 0.25
		i=$((i + 1))
	done | tee "$3"
}
site_status() {  # what a site says of itself
	curl -s "$1/v1/status" | jq -c '{name, role, epoch, writable, not_writable_because}'
}

say "(A) us-east, the primary, partitioned from every other site and from drorchd"
lab_start lab-a
east=$(site_url "$lab" 1)
run curl -s -X PUT "$east/v1/kv/before" -d 1; echo
for p in "us-east eu-west" "us-east ap-south" "drorchd us-east"; do
	run "$DRCTL" --lab "$lab" wan set $p --partition blackhole | grep -v '^LINK'
done
write_loop "$east" $nA "$out/a-writes.txt"
echo "\$ curl -s $east/v1/status | jq -c '{name, role, epoch, writable, not_writable_because}'"
site_status "$east" | tee "$out/a-old-primary.json"
run "$DRCTL" --lab "$lab" status
run "$DRCTL" --lab "$lab" runs
run "$DRCTL" --lab "$lab" audit | tee "$out/a-audit.txt"
orch=$(jq -r .url "$lab/lab.json")
echo "\$ curl -s -H 'Authorization: Bearer ...' $orch/v1/transitions?since=0 | jq -r '.transitions[] | ...'   (every FSM row, the one before the run too)"
curl -s -H "Authorization: Bearer $(cat "$lab/operator.token")" "$orch/v1/transitions?since=0" |
	jq -r '.transitions[] | "\(.seq) \(.row_id) \(.from_state) -\(.event)-> \(.to_state) epoch \(.epoch): \(.reason)"' | tee "$out/a-transitions.txt"
grep -q 'HTTP 503 ' "$out/a-writes.txt" || fail "(A) the old primary never refused a write with 503"
jq -e '.epoch == 1 and .writable == false' "$out/a-old-primary.json" >/dev/null ||
	fail "(A) the partitioned old primary is not at epoch 1, unwritable"

say "(A) heal: the old primary learns of epoch 2 and rejoins as a replica"
run "$DRCTL" --lab "$lab" wan reset
sleep 2
run "$DRCTL" --lab "$lab" status
echo "\$ curl -s $east/v1/status | jq -c '{name, role, epoch, writable, not_writable_because}'"
site_status "$east" | tee "$out/a-healed.json"
run curl -s -m 5 -X PUT "$east/v1/kv/after" -d 1 -w ' HTTP %{http_code}\n'
jq -e '.epoch >= 2 and .role != "primary"' "$out/a-healed.json" >/dev/null ||
	echo "note: us-east has not rejoined yet (see $out/a-healed.json)"
lab_stop lab-a

say "(B) us-east partitioned from drorchd only (link drorchd.us-east)"
lab_start lab-b
east=$(site_url "$lab" 1)
orch=$(jq -r .url "$lab/lab.json")
run "$DRCTL" --lab "$lab" wan set drorchd us-east --partition blackhole | grep -v '^LINK'
write_loop "$east" $nB "$out/b-writes.txt"
run "$DRCTL" --lab "$lab" status
echo "\$ curl -s $orch/metrics | grep -E '^drorch_monitor_site_up|^drorch_fsm_state' | grep -E 'site_up|} 1\$'"
curl -s "$orch/metrics" | grep -E '^drorch_monitor_site_up|^drorch_fsm_state' | grep -E 'site_up|} 1$' | tee "$out/b-metrics.txt"
run "$DRCTL" --lab "$lab" runs || true
echo "\$ curl -s -H 'Authorization: Bearer ...' $orch/v1/transitions?since=0"
curl -s -H "Authorization: Bearer $(cat "$lab/operator.token")" "$orch/v1/transitions?since=0" | tee "$out/b-transitions.json"; echo
grep -q 'HTTP 503 ' "$out/b-writes.txt" && fail "(B) a write was refused though only drorchd's link was cut"
jq -e '.transitions | length == 0' "$out/b-transitions.json" >/dev/null ||
	echo "note: (B) the audit has transitions (see $out/b-transitions.json)"
lab_stop lab-b
echo "lab 2 done: $out (a-*.txt/json: the full partition; b-*: drorchd's link only)"
