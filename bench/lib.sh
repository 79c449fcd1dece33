# shellcheck shell=bash
# bench/lib.sh — shell helpers every bench/*/run.sh sources: refusing tmpfs,
# picking free loopback ports, waiting for /healthz, stopping processes by
# PID from the exit trap, the work directory, the machine line, and
# "median min max" over repetitions.  Not a program on its own.
#
# The caller defines cleanup() (it stops its own PIDs with stop_pid and may
# call remove_work) and sets WORK, KEEP, BENCH_DIR as it needs.

# shellcheck disable=SC2034  # FREE_PORT and FS_TYPE are for the caller

die() { echo "run.sh: $*" >&2; exit 2; }

# refuse_tmpfs DIR: DIR must be a directory on a real disk (fsync costs
# nothing on tmpfs); sets FS_TYPE.
refuse_tmpfs() {
	[ -d "$1" ] || die "$1 is not a directory"
	FS_TYPE=$(stat -f -c %T "$1")
	case "$FS_TYPE" in
	tmpfs|ramfs) die "$1 is $FS_TYPE, where fsync costs nothing; pass --dir on a real disk" ;;
	esac
}

# install_traps: cleanup on exit, and exit (so cleanup runs) on INT and TERM.
install_traps() {
	trap cleanup EXIT
	trap 'exit 130' INT TERM
}

# stop_pid PID: SIGTERM, up to 5 s, then SIGKILL; reaps it.  A stopped
# process (a paused replica) is continued first, or it could not exit.
stop_pid() {
	local pid=$1
	[ -n "$pid" ] || return 0
	kill -CONT "$pid" 2>/dev/null || true
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
		sleep 0.1
	done
	echo "run.sh: pid $pid ignored SIGTERM for 5 s, killing it" >&2
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# remove_work: removes $WORK, or with KEEP=1 says where it is.
remove_work() {
	[ -n "${WORK:-}" ] || return 0
	if [ "${KEEP:-0}" = 1 ]; then
		echo "run.sh: data and logs kept in $WORK" >&2
	else
		rm -rf "$WORK"
	fi
}

# True when something accepts connections on 127.0.0.1:$1.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port: sets FREE_PORT to a loopback port nothing listens on now and not
# yet handed out, below the kernel's ephemeral range so that no client
# connection can hold it first.  Not in a subshell: it remembers the ports.
declare -A TAKEN
free_port() {
	local p lo
	read -r lo _ </proc/sys/net/ipv4/ip_local_port_range
	[ "$lo" -gt 12000 ] || lo=32768
	for _ in $(seq 100); do
		p=$((10000 + RANDOM % (lo - 10000)))
		if [ -z "${TAKEN[$p]:-}" ] && ! port_open "$p"; then
			TAKEN[$p]=1
			FREE_PORT=$p
			return 0
		fi
	done
	die "no free loopback port found"
}

# wait_http NAME PID URL LOG: up to 15 s for URL to answer 2xx; dies with the
# tail of LOG if PID exits first or time runs out.
wait_http() {
	local name=$1 pid=$2 url=$3 log=$4
	for _ in $(seq 150); do
		kill -0 "$pid" 2>/dev/null || { tail -n 20 "$log" >&2; die "$name exited during start-up (log above)"; }
		curl -fsS -m 1 -o /dev/null "$url" 2>/dev/null && return 0
		sleep 0.1
	done
	tail -n 20 "$log" >&2
	die "$name not ready at $url after 15 s"
}

# machine: "N CPUs, KERNEL", the start of every "machine:" line.
machine() { echo "$(nproc) CPUs, $(uname -sr)"; }
load_average() { cut -d' ' -f1-3 /proc/loadavg; }

# field LINE NAME: the value of NAME=... in a key=value line.
field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

# Numbers (or NA) on stdin -> "median min max", or "NA NA NA".
spread() {
	{ grep -v '^NA$' || true; } | { grep . || true; } | sort -g | awk '
		{ v[NR] = $1 }
		END {
			if (NR == 0) { print "NA NA NA"; exit }
			m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			print m, v[1], v[NR]
		}'
}
