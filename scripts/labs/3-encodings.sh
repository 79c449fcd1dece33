#!/usr/bin/env bash
# Lab 3 (docs/labs/3-encodings.md): binary vs JSON WAL shipping under load,
# with bench/encodings, and SVG plots drawn from its table.
#   scripts/labs/3-encodings.sh [--short] [--out DIR]
# --short: 1 rep, 1 s per run, 16 writers (about 10 s); full: the bench's
# defaults (3 reps, 3 s per run, 64 writers; about 1.5 minutes).
. "$(dirname "$0")/lib.sh"
echo "lab 3: output in $out"
if [ "$mode" = short ]; then
	args="--reps 1 --duration 1 --warmup 0 --catchup-load 1 --clients 16"
else
	args=
fi
say "bench/encodings ($mode)"
cd "$build"
# shellcheck disable=SC2086
run "$src/bench/encodings/run.sh" $args --dir "$out" 2>&1 | tee "$out/bench.txt"
t=$out/bench.txt
grep -q '^sync quorum 1 *json' "$t" || fail "no sync rows in the bench's table"

say "plots from $t"
# (1) in process: enc+dec ns per record and bytes per record, by value size
awk '/^\(1\)/ { on = 1; next } /^\(2\)/ { on = 0 }
     on && $1 ~ /^[0-9]+$/ { print $1 "B", "binary", $5 + $7; print $1 "B", "json", $9 + $11 }' "$t" |
	svg_bars "$out/framing-ns.svg" "Lab 3: encode+decode cost per record (64-record frames)" "ns per record"
awk '/^\(1\)/ { on = 1; next } /^\(2\)/ { on = 0 }
     on && $1 ~ /^[0-9]+$/ { print $1 "B", "binary", $2; print $1 "B", "json", $3 }' "$t" |
	svg_bars "$out/framing-bytes.svg" "Lab 3: bytes on the wire per record" "bytes per record"
# (2) cluster: throughput, CPU per write, catch-up
awk '$1 == "sync" && $2 == "quorum" { print "sync-writes/s", $4, $5 }
     $1 == "async" && ($2 == "binary" || $2 == "json") { print "async-writes/s", $2, $3 }
     $1 == "async," && $2 == "streaming" { print "async-shipped/s", $3, $8 }' "$t" |
	svg_bars "$out/throughput.svg" "Lab 3: throughput, binary vs JSON framing" "per second"
awk '$1 == "sync" && $2 == "quorum" { print "sync-primary", $4, $11; print "sync-replica", $4, $13 }
     $1 == "async" && ($2 == "binary" || $2 == "json") { print "async-primary", $2, $9; print "async-replica", $2, $11 }' "$t" |
	svg_bars "$out/cpu.svg" "Lab 3: CPU per write (utime+stime)" "CPU us per write"
awk '$1 == "catch-up" { print "catch-up", $5, $8 }' "$t" |
	svg_bars "$out/catchup.svg" "Lab 3: catch-up rate after the replicas were paused" "records per second"
echo "lab 3 done: $out (bench.txt; framing-ns.svg framing-bytes.svg throughput.svg cpu.svg catchup.svg)"
