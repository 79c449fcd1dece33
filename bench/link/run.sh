#!/usr/bin/env bash
# bench/link/run.sh — what a zero-condition drlink link adds to a round trip
# (p50, p99) and what it leaves of throughput, against a direct connection in
# the same run.  See bench/link/README.md.
#
# Run from the build directory after `make` (it builds nothing):
#   bench/link/run.sh [--reps 5] [--trips 20000] [--size 64] [--stream-mib 256]
# Options go to bench/link/linkload unchanged; DRLINK and LINKLOAD override
# the binaries' paths.
set -euo pipefail
export LC_ALL=C

DRLINK=${DRLINK:-./drlink}
LINKLOAD=${LINKLOAD:-./bench/link/linkload}

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/../lib.sh"

[ -x "$LINKLOAD" ] || die "$LINKLOAD not found: run make first, from the build directory"
[ -x "$DRLINK" ] || die "$DRLINK not found: run make first, from the build directory"
echo "machine: $(machine), load average $(load_average)"
exec "$LINKLOAD" --drlink "$DRLINK" "$@"
