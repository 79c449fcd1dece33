#!/usr/bin/env bash
# The course labs (docs/labs/): each lab script in its --short mode, end to
# end against real processes on 127.0.0.1, and what each must show:
#  1 a failover per scenario, no acknowledged write lost in sync mode, RPO > 0
#    in async mode (the WAN scenarios cut the primary's links 0.2 s before the
#    kill, so async has acknowledged writes no replica got: a kill alone left
#    that to chance, and the sanitizer CI once saw none);
#  2 the partitioned old primary refusing writes (503) at epoch 1 while the
#    cluster is at epoch 2; an orchestrator-only partition failing nothing over;
#  3 the encodings table and its SVG plots;
#  4 the slow-fsync primary's p99, the canary failures and the failover.
# Every lab script stops its labs on exit (drctl lab down, which checks every
# PID is gone); this script checks that no process of theirs is left.
set -eu
src=${DRORCH_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
build=${DRORCH_BUILDDIR:-$src}
export DRORCH_SRCDIR=$src DRORCH_BUILDDIR=$build
tmp=$(mktemp -d "${TMPDIR:-/tmp}/drorch-labs.XXXXXX")
cleanup() {
	rc=$?
	# belt and braces: a lab script killed before its own trap ran
	for j in "$tmp"/*/lab*/lab.json "$tmp"/*/lab/lab.json; do
		[ -e "$j" ] && "$build/drctl" lab down --dir "$(dirname "$j")" >/dev/null 2>&1
	done
	[ $rc -eq 0 ] && rm -rf "$tmp" || echo "kept $tmp" >&2
	exit $rc
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
svg_ok() { grep -q '^<svg xmlns="http://www.w3.org/2000/svg"' "$1" && tail -n 1 "$1" | grep -qx '</svg>' || fail "$1: not an SVG"; }
live() {  # live DIR: a process whose command line names DIR is still running
	for p in /proc/[0-9]*; do
		tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q -- "$1" && return 0
	done
	return 1
}

lab() {  # lab N NAME: run scripts/labs/N-NAME.sh --short into $tmp/N
	s=$(date +%s)
	timeout 120 "$src/scripts/labs/$1-$2.sh" --short --out "$tmp/$1" >"$tmp/$1.log" 2>&1 ||
		{ tail -n 40 "$tmp/$1.log" >&2; fail "lab $1 ($2) failed"; }
	live "$tmp/$1/" && fail "lab $1 left a process running"
	echo "ok: lab $1 ($2) in $(($(date +%s) - s)) s"
}

# Two labs at a time (each in its own directory, on ports it picks free):
# mostly waiting, they take half the time side by side.  1 with 4, then 2 with
# 3 (the encodings bench's CPU beside the partition lab, whose checks are
# about refusals and epochs, not speed).
pair() {  # pair N NAME M NAME: labs N and M at once; fails if either does
	(trap - EXIT; lab "$1" "$2") & a=$!
	(trap - EXIT; lab "$3" "$4") & b=$!
	ra=0; rb=0
	wait $a || ra=$?
	wait $b || rb=$?
	[ $ra -eq 0 ] && [ $rb -eq 0 ] || fail "a lab failed (see above)"
}

pair 1 failover-wan 4 grey-failure
r=$tmp/1/results.txt
[ "$(wc -l <"$r")" -eq 3 ] || fail "lab 1: want 3 failovers, got $(cat "$r")"
awk '$7 != "succeeded" { exit 1 }' "$r" || fail "lab 1: a failover did not succeed: $(cat "$r")"
awk '$1 ~ /-sync$/ && ($8 == 0 || $9 != 0) { exit 1 }' "$r" || fail "lab 1: a sync failover lost an acknowledged write (or none was made)"
awk '$1 == "wan-async" && ($2 > 0 || $9 > 0) { f = 1 } END { exit !f }' "$r" || fail "lab 1: async under load lost nothing"
svg_ok "$tmp/1/rto.svg"; svg_ok "$tmp/1/rpo.svg"

awk '$1 == "us-east" && $2 > 0.1 { f = 1 } END { exit !f }' "$tmp/4/slow.p99" || fail "lab 4: us-east's fsync p99 not slow"
awk '$1 == "eu-west" && $2 < 0.1 { f = 1 } END { exit !f }' "$tmp/4/slow.p99" || fail "lab 4: eu-west's fsync p99 slow too"
grep -q '"failures":2' "$tmp/4/canary.log" || fail "lab 4: no second canary failure"
grep -q 'failover  succeeded' "$tmp/4/audit.txt" || fail "lab 4: no failover run"
svg_ok "$tmp/4/wal_fsync-histogram.svg"; svg_ok "$tmp/4/put_ack-histogram.svg"

pair 2 partition 3 encodings
grep -q 'HTTP 503 .*epoch 2  primary' "$tmp/2/a-writes.txt" || fail "lab 2: no 503 from the old primary while the cluster was at epoch 2"
grep -q 'write lease expired' "$tmp/2/a-writes.txt" || fail "lab 2: no lease expiry"
grep -q '^[0-9]* D05 ' "$tmp/2/a-transitions.txt" || fail "lab 2: no D05 row"
grep -q '"epoch":2' "$tmp/2/a-healed.json" || fail "lab 2: the old primary did not learn epoch 2"
grep -q 'HTTP 503 ' "$tmp/2/b-writes.txt" && fail "lab 2: writes refused in the drorchd-only partition"
grep -q '{"transitions":\[\]}' "$tmp/2/b-transitions.json" || fail "lab 2: the drorchd-only partition wrote to the audit"

grep -q '^sync quorum 1 *json' "$tmp/3/bench.txt" || fail "lab 3: no table"
for f in framing-ns framing-bytes throughput cpu catchup; do svg_ok "$tmp/3/$f.svg"; done
grep -c '<rect x=' "$tmp/3/throughput.svg" | awk '$1 < 6 { exit 1 }' || fail "lab 3: throughput.svg has too few bars"

echo "ok: all four labs"
