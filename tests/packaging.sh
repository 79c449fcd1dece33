#!/bin/sh
# make check: what `make install` and `make dist` deliver (docs/packaging.md).
#  1. `make install DESTDIR=TMP` installs the programs, the man pages, the
#     example configs, the systemd units and the sysusers.d file;
#  2. `systemd-analyze verify` accepts each installed unit (ExecStart pointed
#     at the binaries under TMP, the only change);
#  3. every man page renders without a warning (groff -ww, man --warnings);
#  4. the installed drorchd runs on the installed drorchd.yaml and
#     policy.yaml (paths moved under TMP, a free port) until /healthz answers
#     and the policy is in force, and stops with 0 on SIGTERM; the same for
#     drlink and its drlink.yaml (listen ports 0);
#  5. every docs/... or contrib/... file README.md names is in the tarball's
#     list (make print-distfiles).
set -eu
: "${DRORCH_BUILDDIR:=.}" "${DRORCH_SRCDIR:=.}"
B=$DRORCH_BUILDDIR
S=$DRORCH_SRCDIR

tmp=$(mktemp -d "${TMPDIR:-/tmp}/drorch-pkg.XXXXXX")
pids=""
cleanup() {
	for p in $pids; do kill -9 "$p" 2>/dev/null || :; done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

# Sub-makes of the build tree, not of `make check`'s jobserver.
bmake() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$B" "$@"; }

# ---- 1. make install DESTDIR ------------------------------------------------
root=$tmp/root
if ! bmake install DESTDIR="$root" >"$tmp/install.log" 2>&1; then
	cat "$tmp/install.log"
	fail "make install DESTDIR=$root"
	exit 1
fi
bmake print-installdirs >"$tmp/dirs"
dir() { sed -n "s|^$1=||p" "$tmp/dirs"; }
bindir=$(dir bindir)
mandir=$(dir mandir)
confdir=$(dir drorchconfdir)
unitdir=$(dir systemdsystemunitdir)
sysusersdir=$(dir sysusersdir)

for f in drctl drorchd drsite drsite-0.1.0 drlink drchaos; do
	if test -x "$root$bindir/$f"; then ok "$bindir/$f"; else fail "no $bindir/$f"; fi
done
for f in drctl drorchd drsite drlink drchaos; do
	if test -s "$root$mandir/man1/$f.1"; then ok "$mandir/man1/$f.1"; else fail "no $mandir/man1/$f.1"; fi
done
for f in drorchd.yaml policy.yaml drlink.yaml drsite-us-east.env drsite-eu-west.env \
	drsite-ap-south.env; do
	if test -s "$root$confdir/$f"; then ok "$confdir/$f"; else fail "no $confdir/$f"; fi
done
for f in drorchd.service drsite@.service drlink.service; do
	if test -s "$root$unitdir/$f"; then ok "$unitdir/$f"; else fail "no $unitdir/$f"; fi
done
if test -s "$root$sysusersdir/drorch.conf"; then ok "$sysusersdir/drorch.conf"
else fail "no $sysusersdir/drorch.conf"; fi
# Every template was filled in with the install paths.
for f in "$root$confdir/drorchd.yaml" "$root$unitdir"/*.service; do
	if grep -n '@[a-z_]*@' "$f"; then fail "$f: a placeholder left"; fi
done
for f in drorchd drsite@ drlink; do
	n=${f%@}
	if grep -q "^ExecStart=$bindir/$n " "$root$unitdir/$f.service"; then
		ok "$f.service runs $bindir/$n"
	else
		fail "$f.service: ExecStart is not $bindir/$n"
	fi
done

# ---- 2. systemd-analyze verify ----------------------------------------------
if command -v systemd-analyze >/dev/null 2>&1; then
	mkdir "$tmp/units"
	for f in "$root$unitdir"/*.service; do
		sed "s|=$bindir/|=$root$bindir/|" "$f" >"$tmp/units/${f##*/}"
	done
	for u in drorchd.service drlink.service drsite@us-east.service; do
		# Documentation=man:...: looked up among the installed pages.
		if MANPATH="$root$mandir" systemd-analyze verify "$tmp/units/$u" >"$tmp/verify.out" 2>&1 &&
		   ! test -s "$tmp/verify.out"; then
			ok "systemd-analyze verify $u"
		else
			cat "$tmp/verify.out"
			fail "systemd-analyze verify $u"
		fi
	done
else
	echo "SKIP: no systemd-analyze: units not verified"
fi

# ---- 3. man pages ------------------------------------------------------------
for p in "$root$mandir"/man1/*.1; do
	out=""
	if command -v groff >/dev/null 2>&1; then
		out=$(groff -man -ww -z "$p" 2>&1) || out="$out (groff failed)"
	fi
	if test -z "$out" && command -v man >/dev/null 2>&1; then
		out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$p" 2>&1 >/dev/null) ||
			out="$out (man failed)"
	fi
	if test -z "$out"; then ok "renders: ${p##*/}"; else printf '%s\n' "$out"; fail "${p##*/}"; fi
done

# ---- 4. the example configs, by the real daemons ---------------------------
# HTTP GET of 127.0.0.1:PORT PATH: the body on stdout; status 1 unless 200.
get() {
	curl -sf --max-time 2 "http://127.0.0.1:$1$2"
}
# Waits up to 10 s for PID to answer 200 on PORT's /healthz.
wait_healthy() {
	i=0
	while test $i -lt 100; do
		kill -0 "$1" 2>/dev/null || return 1
		get "$2" /healthz >/dev/null 2>&1 && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}
# SIGTERM, then the exit status (after 10 s: SIGKILL, 99).
stop() {
	kill -TERM "$1"
	i=0
	while kill -0 "$1" 2>/dev/null && test $i -lt 100; do sleep 0.1; i=$((i + 1)); done
	if kill -0 "$1" 2>/dev/null; then kill -9 "$1"; wait "$1" || :; return 99; fi
	rc=0
	wait "$1" || rc=$?
	return $rc
}
port() { echo $(( ($$ * 7 + $1 * 131 + $(date +%N | sed 's/^0*//;s/^$/0/') % 9973) % 20000 + 20000 )); }

if ! command -v curl >/dev/null 2>&1; then
	echo "SKIP: no curl: the example configs are not run"
else
	run=$tmp/run
	mkdir -p "$run/etc" "$run/var"
	printf 'operator-token-%s\n' "$$" >"$run/etc/operator.token"
	printf 'site-token-%s\n' "$$" >"$run/etc/site.token"
	cp "$root$confdir/policy.yaml" "$root$confdir/drlink.yaml" "$run/etc/"
	started=no
	for attempt in 1 2 3 4 5; do
		p=$(port "$attempt")
		sed -e "s|$confdir/|$run/etc/|g" -e "s|/var/lib/drorch/|$run/var/|g" \
		    -e "s|^listen: 127.0.0.1:7000|listen: 127.0.0.1:$p|" \
		    "$root$confdir/drorchd.yaml" >"$run/etc/drorchd.yaml"
		"$root$bindir/drorchd" --config "$run/etc/drorchd.yaml" >"$run/drorchd.log" 2>&1 &
		pid=$!
		pids="$pids $pid"
		if wait_healthy "$pid" "$p"; then started=yes; break; fi
		kill -9 "$pid" 2>/dev/null || :
		wait "$pid" 2>/dev/null || :
		grep -q "in use" "$run/drorchd.log" || break
	done
	if test $started = yes; then
		ok "drorchd runs on the example drorchd.yaml (port $p)"
		if get "$p" /v1/policy | grep -q '"sync-zero-rpo"'; then
			ok "the example policy.yaml is in force"
		else
			get "$p" /v1/policy || :
			fail "GET /v1/policy does not name sync-zero-rpo"
		fi
		rc=0; stop "$pid" || rc=$?
		if test $rc = 0; then ok "drorchd: SIGTERM, exit 0"; else fail "drorchd exit $rc after SIGTERM"; fi
	else
		cat "$run/drorchd.log"
		fail "drorchd refused the example drorchd.yaml"
	fi

	sed 's|^\( *listen: 127.0.0.1:\)[0-9]*|\10|' "$run/etc/drlink.yaml" >"$run/etc/drlink0.yaml"
	started=no
	for attempt in 6 7 8 9 10; do
		p=$(port "$attempt")
		"$root$bindir/drlink" --admin "127.0.0.1:$p" --config "$run/etc/drlink0.yaml" \
			>"$run/drlink.log" 2>&1 &
		pid=$!
		pids="$pids $pid"
		if wait_healthy "$pid" "$p"; then started=yes; break; fi
		kill -9 "$pid" 2>/dev/null || :
		wait "$pid" 2>/dev/null || :
		grep -q "in use" "$run/drlink.log" || break
	done
	if test $started = yes; then
		n=$(get "$p" /v1/links | grep -o '"name":' | wc -l)
		if test "$n" -eq 6; then ok "drlink runs on the example drlink.yaml: 6 links"
		else fail "drlink: $n links, not 6"; fi
		rc=0; stop "$pid" || rc=$?
		if test $rc = 0; then ok "drlink: SIGTERM, exit 0"; else fail "drlink exit $rc after SIGTERM"; fi
	else
		cat "$run/drlink.log"
		fail "drlink refused the example drlink.yaml"
	fi
fi

# ---- 5. make dist ships the docs README.md names ---------------------------
srcdir=$(dir srcdir)
bmake print-distfiles | sed -e "s|^$srcdir/||" -e "s|^$S/||" -e 's|^\./||' >"$tmp/dist"
grep -o '\(docs\|contrib\)/[A-Za-z0-9_./@-]*' "$S/README.md" | sed 's/[.]*$//' | sort -u >"$tmp/named"
for f in $(cat "$tmp/named") docs/packaging.md; do
	test -f "$S/$f" || continue   # a directory, or a file made by the build
	if grep -qx "$f" "$tmp/dist"; then ok "dist: $f"; else fail "README.md names $f; make dist does not ship it"; fi
done

if test $fails -ne 0; then
	echo "$fails check(s) failed"
	exit 1
fi
echo "all packaging checks passed"
