# scripts/labs/lib.sh: shared by the course labs (docs/labs/).  Sourced, not run.
#
# Sets: src (source tree), build (build tree: drctl, drsite, bench/...), DRCTL.
# Gives: lab_start NAME [ARGS] / lab_stop NAME (labs under $out, all stopped on
# exit), site_url LABDIR N, say (a banner), run (echo "$ cmd" then run it),
# hist_delta / hist_quantile (Prometheus histograms, by awk) and svg_bars (a
# grouped bar chart written by hand as SVG: no plotting dependency).
set -eu
src=${DRORCH_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${DRORCH_BUILDDIR:-$src}
DRCTL=$build/drctl
[ -x "$DRCTL" ] || { echo "$DRCTL not found: build first (autoreconf -fi && ./configure && make)" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl not found" >&2; exit 1; }
command -v jq >/dev/null || { echo "jq not found" >&2; exit 1; }

mode=full
out=
while [ $# -gt 0 ]; do
	case $1 in
	--short) mode=short ;;
	--full) mode=full ;;
	--out) out=$2; shift ;;
	--help | -h)
		echo "usage: $0 [--short] [--out DIR]"
		echo "  --short   the quick version (tests/check_labs.sh runs it)"
		echo "  --out DIR where labs, logs and the SVG plots go (default: a new /tmp/drorch-lab.XXXXXX)"
		exit 0 ;;
	*) echo "$0: unknown option $1 (try --help)" >&2; exit 2 ;;
	esac
	shift
done
[ -n "$out" ] || out=$(mktemp -d "${TMPDIR:-/tmp}/drorch-lab.XXXXXX")
mkdir -p "$out"
out=$(cd "$out" && pwd)

labs_started=
bg_pids=
lab_cleanup() {
	rc=$?
	for p in $bg_pids; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	for l in $labs_started; do
		"$DRCTL" lab down --dir "$l" >>"$out/lab-down.log" 2>&1 ||
			{ echo "lab down --dir $l: not every process is gone (see $out/lab-down.log)" >&2; rc=1; }
	done
	exit $rc
}
trap lab_cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '\n=== %s\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

# lab_start NAME [lab up options]: a fresh lab in $out/NAME (its dir printed as $lab).
lab_start() {
	lab=$out/$1
	shift
	if [ -e "$lab/lab.json" ]; then "$DRCTL" lab down --dir "$lab" --purge >/dev/null 2>&1 || true; fi
	rm -rf "$lab"
	labs_started="$labs_started $lab"
	run "$DRCTL" lab up --dir "$lab" "$@" >"$lab.up.log" 2>&1 || { cat "$lab.up.log" >&2; fail "lab up"; }
	tail -n 2 "$lab.up.log"
}
lab_stop() {
	"$DRCTL" lab down --dir "$out/$1" >>"$out/lab-down.log" 2>&1 || fail "lab down --dir $out/$1"
	labs_started=$(echo "$labs_started" | tr ' ' '\n' | grep -vx "$out/$1" | tr '\n' ' ')
}
# site_url LABDIR N: the client URL of site N (1: us-east, the first primary)
site_url() { jq -r ".sites[$(($2 - 1))].url" "$1/lab.json"; }

# hist_delta FAMILY BEFORE AFTER [LABEL-FILTER]: "le count" lines, the
# cumulative buckets of FAMILY in AFTER minus those in BEFORE (two /metrics scrapes).
hist_delta() {
	awk -v fam="$1_bucket" -v filt="${4:-}" '
		FNR == 1 { f++ }
		index($0, fam "{") == 1 && (filt == "" || index($0, filt)) {
			le = $1; sub(/.*le="/, "", le); sub(/".*/, "", le)
			if (f == 1) b[le] = $2; else { a[le] = $2; order[++n] = le }
		}
		END { for (i = 1; i <= n; i++) print order[i], a[order[i]] - b[order[i]] }' "$2" "$3"
}
# hist_quantile Q < "le count" lines: as PromQL histogram_quantile (linear in the bucket).
hist_quantile() {
	awk -v q="$1" '
		{ le[NR] = $1; c[NR] = $2 } END {
			tot = c[NR]; if (tot == 0) { print "NaN"; exit }
			r = q * tot; lo = 0; pc = 0
			for (i = 1; i <= NR; i++) {
				if (c[i] >= r) {
					if (le[i] == "+Inf") { print lo; exit }
					printf "%.6f\n", lo + (le[i] - lo) * (r - pc) / (c[i] - pc); exit
				}
				lo = le[i]; pc = c[i]
			}
		}'
}

# svg_bars FILE TITLE YLABEL < lines "GROUP SERIES VALUE" (SERIES: at most 4,
# in the order first seen; GROUP: in the order first seen).  A grouped bar
# chart, the value printed over each bar.
svg_bars() {
	awk -v title="$2" -v ylabel="$3" '
		function esc(s) { gsub(/&/, "\\&amp;", s); gsub(/</, "\\&lt;", s); return s }
		NF >= 3 {
			if (!($1 in gi)) { gi[$1] = ++ng; gname[ng] = $1 }
			if (!($2 in si)) { si[$2] = ++ns; sname[ns] = $2 }
			v[gi[$1], si[$2]] = $3; if ($3 + 0 > max) max = $3 + 0
		}
		END {
			if (max <= 0) max = 1
			m = 10 ^ int(log(max) / log(10)); if (m > max) m /= 10
			max = int(max / m * 2 + 0.999) / 2 * m	# up to a round tick
			split("#4e79a7 #e15759 #59a14f #f28e2b", col, " ")
			W = 120 + ng * (ns * 34 + 30); if (W < 480) W = 480; H = 380
			x0 = 70; y0 = 300; ph = 240
			printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"11\">\n", W, H
			printf "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
			printf "<text x=\"%d\" y=\"22\" font-size=\"14\" font-weight=\"bold\">%s</text>\n", x0, esc(title)
			printf "<text x=\"14\" y=\"%d\" transform=\"rotate(-90 14 %d)\" text-anchor=\"middle\">%s</text>\n", y0 - ph / 2, y0 - ph / 2, esc(ylabel)
			for (t = 0; t <= 4; t++) {
				y = y0 - ph * t / 4
				printf "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", x0, y, W - 20, y
				printf "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", x0 - 4, y + 4, max * t / 4
			}
			for (g = 1; g <= ng; g++) {
				gx = x0 + 15 + (g - 1) * (ns * 34 + 30)
				for (s = 1; s <= ns; s++) {
					if (!((g, s) in v)) continue
					h = ph * v[g, s] / max; x = gx + (s - 1) * 34
					printf "<rect x=\"%d\" y=\"%.1f\" width=\"30\" height=\"%.1f\" fill=\"%s\"/>\n", x, y0 - h, h, col[s]
					printf "<text x=\"%d\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"9\">%s</text>\n", x + 15, y0 - h - 3, v[g, s]
				}
				printf "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", gx + ns * 17, y0 + 16, esc(gname[g])
			}
			printf "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", x0, y0, W - 20, y0
			for (s = 1; s <= ns; s++) {
				printf "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" fill=\"%s\"/>\n", x0 + (s - 1) * 150, H - 36, col[s]
				printf "<text x=\"%d\" y=\"%d\">%s</text>\n", x0 + (s - 1) * 150 + 16, H - 26, esc(sname[s])
			}
			print "</svg>"
		}' >"$1"
	echo "plot: $1"
}
