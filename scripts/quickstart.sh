#!/usr/bin/env bash
# The README's one command: install what is needed, build, run the DR drill
# (scripts/drill.sh: a 3-site lab, kill -9 of the primary under load, automatic
# failover, audit, every acknowledged write checked).  scripts/demo-kill9.sh, the
# single-site durability demo, is still there to run by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
autoreconf -fi
./configure
make -j"$(nproc)"
bash scripts/drill.sh
