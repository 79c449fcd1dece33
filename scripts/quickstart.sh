#!/usr/bin/env bash
# The README's one command: install what is needed, build, run the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
autoreconf -fi
./configure
make -j"$(nproc)"
bash scripts/demo-kill9.sh
