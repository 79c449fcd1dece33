#!/bin/sh
# chaos.sh — many drchaos trials in sequence (what `make chaos` runs).
#
#   scripts/chaos.sh [--seeds N] [--first SEED] [--mode sync|async|both]
#                    [--duration S] [--faults LIST] [--ha 1] [--bin BUILDDIR]
#
# Seeds FIRST .. FIRST+N-1, each in the mode(s) asked, each an HA trial
# (drchaos --ha) with --ha 1; one summary line per trial (drchaos's last
# line), then a tally: trials run, passed, failed, faults by class (ha too
# with --ha 1), acknowledged writes checked, lost; and for every failing
# trial the command that repeats it.  Each trial's whole output is kept in a
# results directory (printed).  Exit 0 when every trial passed, 1 otherwise.
set -u

seeds=10 first=1 mode=sync duration=20 faults= ha= bin=
while [ $# -gt 0 ]; do
	case "$1" in
	--seeds) seeds=${2:-}; shift 2 ;;
	--first) first=${2:-}; shift 2 ;;
	--mode) mode=${2:-}; shift 2 ;;
	--duration) duration=${2:-}; shift 2 ;;
	--faults) faults=${2:-}; shift 2 ;;
	--ha) ha=${2:-}; shift 2 ;;
	--bin) bin=${2:-}; shift 2 ;;
	*) echo "chaos.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
# `make chaos` passes every variable, set or not.
[ -n "$seeds" ] || seeds=10
[ -n "$first" ] || first=1
[ -n "$mode" ] || mode=sync
[ -n "$duration" ] || duration=20
case "$mode" in
sync | async) modes=$mode ;;
both) modes="sync async" ;;
*) echo "chaos.sh: --mode: expected sync, async or both, got '$mode'" >&2; exit 2 ;;
esac
case "$seeds$first$duration" in
*[!0-9]*) echo "chaos.sh: --seeds, --first and --duration take numbers" >&2; exit 2 ;;
esac
case "$ha" in
"" | 0) ha= ;;
1) ha=--ha ;;
*) echo "chaos.sh: --ha: expected 1 or 0, got '$ha'" >&2; exit 2 ;;
esac
drchaos=${bin:+$bin/}drchaos
[ -x "$drchaos" ] || drchaos=$(command -v drchaos) || {
	echo "chaos.sh: drchaos not found (build it, or pass --bin BUILDDIR)" >&2; exit 2; }

# A number from the summary line: "acked=12" or "(process 5".
num() { echo "$line" | sed -n "s/.*[( ]$1[= ]\([0-9][0-9]*\).*/\1/p"; }

results=$(mktemp -d "${TMPDIR:-/tmp}/drchaos-runs.XXXXXX")
echo "drchaos trials: seeds $first..$((first + seeds - 1)), mode $mode${ha:+, HA}, ${duration}s of faults${faults:+, faults $faults}; outputs in $results"

run=0 passed=0 failed=0 acked=0 lost=0 rebuilt=0 repeats=
c_process=0 c_network=0 c_storage=0 c_orchstore=0 c_disk=0 c_operator=0 c_ha=0
seed=$first
while [ "$seed" -lt $((first + seeds)) ]; do
	for m in $modes; do
		out="$results/seed-$seed-$m.out"
		"$drchaos" --seed "$seed" --duration "$duration" --mode "$m" $ha ${faults:+--faults "$faults"} \
			>"$out" 2>&1
		rc=$?
		line=$(tail -n 1 "$out")
		case "$line" in
		"drchaos: seed="*) echo "$line" ;;
		*) echo "drchaos: seed=$seed mode=$m exit $rc without a summary: $line"; line= ;;
		esac
		run=$((run + 1))
		if [ "$rc" -eq 0 ]; then
			passed=$((passed + 1))
		else
			failed=$((failed + 1))
			repeats="$repeats
  $drchaos --seed $seed --duration $duration --mode $m${ha:+ $ha}${faults:+ --faults $faults}   # $(echo "$line" | sed -n 's/.*checks=//p') ($out)"
		fi
		[ "$rc" -eq 130 ] && break 2
		v=$(num acked); acked=$((acked + ${v:-0}))
		v=$(num lost); lost=$((lost + ${v:-0}))
		v=$(num rebuilt); rebuilt=$((rebuilt + ${v:-0}))
		for c in process network storage orchstore disk operator ha; do
			v=$(num $c)
			eval "c_$c=\$((c_$c + ${v:-0}))"
		done
	done
	seed=$((seed + 1))
done

echo
echo "== tally: $run trials, $passed passed, $failed failed"
echo "   faults: process $c_process, network $c_network, storage $c_storage, orchstore $c_orchstore, disk $c_disk, operator $c_operator${ha:+, ha $c_ha}"
echo "   acknowledged writes checked: $acked, lost: $lost${ha:+; drorchd copies rebuilt from etcd: $rebuilt}"
if [ "$failed" -gt 0 ]; then
	echo "   to repeat a failing trial:$repeats"
	exit 1
fi
exit 0
