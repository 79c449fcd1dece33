#!/bin/sh
# make check: replays every fuzz target over its committed corpus
# (tests/fuzz/corpus/NAME/) with the plain-C driver tests/fuzz/replay-NAME.
# Each replay ends with a Check-style summary line; a crash or a sanitizer
# report (the sanitizer build) fails the test.
: "${DRORCH_BUILDDIR:=.}" "${DRORCH_SRCDIR:=.}"
status=0
for t in ${DRORCH_FUZZ_TARGETS:?set by make check (tests/fuzz/fuzz.am)}; do
	"$DRORCH_BUILDDIR/tests/fuzz/replay-$t" "$DRORCH_SRCDIR/tests/fuzz/corpus/$t" || {
		echo "FAIL: replay-$t"
		status=1
	}
done
exit $status
