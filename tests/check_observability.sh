#!/usr/bin/env bash
# The shipped observability pieces against the real daemons:
#  - contrib/prometheus/drorch-rules.yml: `promtool check rules`, and every
#    alert fires as drorch-rules.test.yml says (`promtool test rules`);
#  - a real lab (drctl lab up: three drsite, drlink, drorchd on 127.0.0.1):
#    each daemon's /metrics passes `promtool check metrics` and exports
#    drorch_build_info and process_*; drlink exports its link families;
#  - contrib/grafana/drorch.json: every panel's query parses as PromQL
#    (checked as recording rules) and names only metrics a daemon exports
#    (a family declared without samples counts: no failover yet).
# Processes are stopped by `drctl lab down`, which checks every PID is gone.
set -eu
src=${DRORCH_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
build=${DRORCH_BUILDDIR:-$src}
command -v promtool >/dev/null || { echo "promtool not found: scripts/install-deps.sh installs prometheus" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/drorch-obs.XXXXXX")
lab=$tmp/lab
cleanup() {
	"$build/drctl" lab down --dir "$lab" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

promtool check rules "$src/contrib/prometheus/drorch-rules.yml" >/dev/null ||
	fail "promtool check rules"
(cd "$src/contrib/prometheus" && promtool test rules drorch-rules.test.yml) >"$tmp/test-rules.out" 2>&1 ||
	{ cat "$tmp/test-rules.out" >&2; fail "promtool test rules"; }
echo "ok: rules check and unit tests"

timeout 60 "$build/drctl" lab up --dir "$lab" >"$tmp/up.out" 2>&1 || { cat "$tmp/up.out" >&2; fail "lab up"; }
json_field() {  # json_field KEY: the first "KEY": "value" of lab.json
	sed -n "s/.*\"$1\": *\"\\([^\"]*\\)\".*/\\1/p" "$lab/lab.json" | head -n 1
}
orch=$(json_field url)
link=$(json_field drlink)
[ -n "$orch" ] && [ -n "$link" ] || fail "lab.json names no drorchd or drlink url"
sites=$(grep -o '"url": *"http://127.0.0.1:[0-9]*"' "$lab/lab.json" | sed 's/.*"\(http[^"]*\)"/\1/' | grep -vx "$orch")
[ "$(echo "$sites" | wc -l)" -ge 2 ] || fail "lab.json names fewer than two sites"

: >"$tmp/all.prom"
scrape() {  # scrape NAME URL DAEMON
	curl -sf --max-time 10 "$2/metrics" >"$tmp/$1.prom" || fail "$1: GET /metrics"
	promtool check metrics <"$tmp/$1.prom" >"$tmp/$1.lint" 2>&1 ||
		{ cat "$tmp/$1.lint" >&2; fail "$1: promtool check metrics"; }
	grep -q "^drorch_build_info{daemon=\"$3\",version=\"[0-9.]*\",package=\"[0-9.]*\"} 1$" "$tmp/$1.prom" ||
		fail "$1: no drorch_build_info for $3"
	for m in process_cpu_seconds_total process_resident_memory_bytes process_open_fds \
		 process_max_fds process_start_time_seconds; do
		grep -q "^$m " "$tmp/$1.prom" || fail "$1: no $m"
	done
	cat "$tmp/$1.prom" >>"$tmp/all.prom"
}
scrape drorchd "$orch" drorchd
scrape drlink "$link" drlink
n=0
for s in $sites; do
	n=$((n + 1))
	scrape "site$n" "$s" drsite
done
grep -q '^drorch_audit_ok 1$' "$tmp/drorchd.prom" || fail "drorchd: drorch_audit_ok is not 1"
for m in drorch_link_delay_seconds_bucket drorch_link_sent_bytes_total drorch_link_queued_bytes \
	 drorch_link_chunks_lost_total drorch_link_partition; do
	grep -q "^$m{link=\"us-east.eu-west\"" "$tmp/drlink.prom" || fail "drlink: no $m for us-east.eu-west"
done
echo "ok: /metrics of drorchd, drlink and $n sites pass promtool check metrics"

# The dashboard: queries parse (as recording rules) and name exported metrics.
dash=$src/contrib/grafana/drorch.json
grep -q '"uid": "drorch-overview"' "$dash" || fail "dashboard: no uid drorch-overview"
sed -n 's/^ *"expr": "\(.*\)",\{0,1\}$/\1/p' "$dash" | sed 's/\\"/"/g' >"$tmp/exprs"
[ -s "$tmp/exprs" ] || fail "dashboard: no queries found"
{
	echo "groups:"
	echo "  - name: dashboard"
	echo "    rules:"
	i=0
	while IFS= read -r e; do
		i=$((i + 1))
		printf '      - record: dashboard:q%d\n        expr: %s\n' "$i" "'$(printf '%s' "$e" | sed "s/'/''/g")'"
	done <"$tmp/exprs"
} >"$tmp/dash-rules.yml"
promtool check rules "$tmp/dash-rules.yml" >"$tmp/dash.out" 2>&1 ||
	{ cat "$tmp/dash.out" >&2; fail "dashboard: a query does not parse"; }
missing=""
for m in $(grep -o 'drorch_[a-z_]*' "$tmp/exprs" | sort -u); do
	family=$(echo "$m" | sed 's/_\(bucket\|sum\|count\)$//')
	grep -q -e "^$m[{ ]" -e "^# TYPE $family " "$tmp/all.prom" || missing="$missing $m"
done
[ -z "$missing" ] || fail "dashboard: metrics no daemon exports:$missing"
echo "ok: dashboard $(wc -l <"$tmp/exprs") queries parse and name exported metrics"
