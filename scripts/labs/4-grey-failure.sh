#!/usr/bin/env bash
# Lab 4 (docs/labs/4-grey-failure.md): P99 and grey failures.  The primary's
# fsync is made slow (drsite fault injection, slow_fsync_ms) while /healthz
# still answers 200.  Stage 1 (200 ms): slow but under the canary's 1 s, no
# failover; find the culprit in the histograms (wal_fsync, put_ack p99).
# Stage 2 (1500 ms): the canary write fails twice and drorchd fails over.
# SVG: put_ack and wal_fsync histograms before/after.
#   scripts/labs/4-grey-failure.sh [--short] [--out DIR]
# --short: 2 s of load per stage; full: 10 s.
. "$(dirname "$0")/lib.sh"
secs=10; [ "$mode" = short ] && secs=2
echo "lab 4: output in $out"

say "a lab whose sites accept fault injection"
lab_start lab --enable-faults
tok=$(cat "$lab/site.token")
scrape_all() {  # scrape_all TAG: every site's /metrics into $out/TAG.SITE.prom
	for n in 1 2 3; do
		u=$(site_url "$lab" $n); s=$(jq -r ".sites[$((n - 1))].name" "$lab/lab.json")
		curl -sf "$u/metrics" >"$out/$1.$s.prom" || fail "GET $u/metrics"
	done
}
load() {  # load TAG: kvload on the primary, us-east
	u=$(site_url "$lab" 1)
	run "$build/bench/kv/kvload" --target drsite --port "${u##*:}" --clients 4 --duration $secs --warmup 0 | tee "$out/$1.kvload"
}
# p99 FAMILY TAG0 TAG1 SITE [FILTER]: the p99 of FAMILY over the window between two scrapes
p99() { hist_delta "$1" "$out/$2.$4.prom" "$out/$3.$4.prom" "${5:-}" | hist_quantile 0.99; }
report() {  # report TAG0 TAG1: p99 per site of both families
	printf '%-9s %22s %22s %12s\n' SITE "wal_fsync p99 (s)" "put_ack{sync} p99 (s)" "fsyncs"
	for s in us-east eu-west ap-south; do
		n=$(hist_delta drorch_site_wal_fsync_seconds "$out/$1.$s.prom" "$out/$2.$s.prom" | tail -n 1 | cut -d' ' -f2)
		printf '%-9s %22s %22s %12s\n' $s "$(p99 drorch_site_wal_fsync_seconds "$1" "$2" $s)" \
			"$(p99 drorch_site_put_ack_seconds "$1" "$2" $s 'mode="sync"')" "$n"
	done
}

say "baseline: $secs s of writes, healthy disks"
scrape_all t0
load base
scrape_all t1
report t0 t1 | tee "$out/base.p99"

say "stage 1: us-east's fsync takes 200 ms more; its health check still passes"
east=$(site_url "$lab" 1)
echo "\$ curl -s -X POST -H 'Authorization: Bearer \$(cat $lab/site.token)' $east/v1/admin/faults -d '{\"slow_fsync_ms\": 200}'"
curl -sf -X POST -H "Authorization: Bearer $tok" "$east/v1/admin/faults" -d '{"slow_fsync_ms": 200}'; echo
run curl -s "$east/healthz" -w ' HTTP %{http_code}\n'
load slow
scrape_all t2
report t1 t2 | tee "$out/slow.p99"
run "$DRCTL" --lab "$lab" status
"$DRCTL" --lab "$lab" status | head -n 1 | grep -q 'primary us-east' || echo "note: us-east is no longer primary after stage 1"

say "plots: us-east's histograms, baseline vs slow fsync"
for fam in wal_fsync put_ack; do
	filt=; [ $fam = put_ack ] && filt='mode="sync"'
	hist_delta drorch_site_${fam}_seconds "$out/t0.us-east.prom" "$out/t1.us-east.prom" "$filt" >"$out/$fam.base"
	hist_delta drorch_site_${fam}_seconds "$out/t1.us-east.prom" "$out/t2.us-east.prom" "$filt" >"$out/$fam.slow"
	# per bucket (not cumulative), as a share of the window's count
	for w in base slow; do
		awk -v w="$([ $w = base ] && echo baseline || echo 'slow fsync 200ms')" '
			{ le[NR] = $1; c[NR] = $2 } END { tot = c[NR]; if (tot == 0) tot = 1; p = 0
				for (i = 1; i <= NR; i++) { printf "le=%s %s %.1f\n", le[i], w, 100 * (c[i] - p) / tot; p = c[i] } }' "$out/$fam.$w"
	done | sed 's/ slow fsync 200ms / slow-fsync-200ms /' | awk '{ k[NR] = $1; l[NR] = $0 } END { n = NR / 2; for (i = 1; i <= n; i++) { print l[i]; print l[i + n] } }' |
		svg_bars "$out/$fam-histogram.svg" "Lab 4: us-east drorch_site_${fam}_seconds, share per bucket" "% of the window"
done

say "stage 2: fsync 1500 ms, past the canary's 1 s: the canary write fails"
echo "\$ curl -s -X POST -H 'Authorization: Bearer \$(cat $lab/site.token)' $east/v1/admin/faults -d '{\"slow_fsync_ms\": 1500}'"
curl -sf -X POST -H "Authorization: Bearer $tok" "$east/v1/admin/faults" -d '{"slow_fsync_ms": 1500}'; echo
run "$DRCTL" --lab "$lab" watch --from us-east --timeout 30 || fail "no failover after the canary failed"
run curl -s "$east/healthz" -w ' HTTP %{http_code}\n'
echo "\$ grep monitor.canary_failed $lab/drorchd.log"
grep monitor.canary_failed "$lab/drorchd.log" | tee "$out/canary.log"
[ -s "$out/canary.log" ] || fail "no monitor.canary_failed in drorchd.log"
run "$DRCTL" --lab "$lab" audit | tee "$out/audit.txt"
orch=$(jq -r .url "$lab/lab.json")
echo "\$ curl -s -H 'Authorization: Bearer ...' $orch/v1/transitions?since=0 | jq -r '.transitions[] | ...'"
curl -s -H "Authorization: Bearer $(cat "$lab/operator.token")" "$orch/v1/transitions?since=0" |
	jq -r '.transitions[] | "\(.seq) \(.row_id) \(.from_state) -\(.event)-> \(.to_state) epoch \(.epoch): \(.reason)"' | tee "$out/transitions.txt"
echo "lab 4 done: $out (base.p99 slow.p99; wal_fsync-histogram.svg put_ack-histogram.svg; audit.txt canary.log)"
