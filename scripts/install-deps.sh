#!/usr/bin/env bash
# Installs the Debian 12 packages drorch needs to build, test and demo.
# One list, used by the README's quick start and by .ci/run.
set -euo pipefail
PACKAGES=(
	build-essential autoconf automake pkg-config
	libcurl4-openssl-dev libyaml-dev libsqlite3-dev check libmicrohttpd-dev libjansson-dev
	curl ca-certificates
	chromium wrk redis-server sqlite3
	etcd-server   # drorchd's ha (check_etcd, check_ha, drctl lab up --ha)
	jq            # the course labs (scripts/labs, docs/labs)
	prometheus    # promtool: contrib/prometheus rules and /metrics lint (check_observability)
)
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"
# Optional: clang's libFuzzer, for ./configure --enable-fuzzing CC=clang
# (docs/fuzzing.md).  A normal build and make check do without it.
$SUDO apt-get install -y -q --no-install-recommends clang libfuzzer-14-dev ||
	echo "install-deps: clang/libfuzzer-14-dev not installed: make fuzz unavailable" >&2
