# common.sh: output, bounded waiting and small helpers for lab.sh.
# Sourced by lab.sh; not meant to run on its own.

# now prints the wall clock as seconds with microseconds.
now() { printf '%s\n' "$EPOCHREALTIME"; }

# ms A B prints B-A in whole milliseconds (A, B in seconds with a fraction).
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%d\n", (b - a) * 1000 + 0.5 }'; }

# step prints a heading. In demo mode it is followed by an explanation.
step() { printf '\n== %s\n' "$*"; }

# explain prints narration in demo mode only: what happens and why.
explain() {
	[ "$MODE" = demo ] || return 0
	fold -s -w 96 <<<"$*" | sed 's/ *$//; s/^/   /'
}

# info prints a detail line in every mode.
info() { printf '   %s\n' "$*"; }

die() {
	printf 'lab: %s\n' "$*" >&2
	exit 1
}

# wait_until SECONDS CMD... polls CMD every 20 ms until it succeeds. It fails
# once SECONDS have passed.
wait_until() {
	local limit=$1 deadline
	shift
	deadline=$(awk -v n="$EPOCHREALTIME" -v s="$limit" 'BEGIN { printf "%.6f", n + s }')
	while ! "$@" >/dev/null 2>&1; do
		if awk -v n="$EPOCHREALTIME" -v d="$deadline" 'BEGIN { exit !(n > d) }'; then
			return 1
		fi
		sleep 0.02
	done
}

# in_ns NS CMD... runs CMD inside network namespace NS. Background daemons
# call ip netns exec directly, so that $! is the daemon itself.
in_ns() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@"
}

# need CMD PACKAGE dies with the package to install if CMD is missing.
need() {
	command -v "$1" >/dev/null || die "$1 not found: run make deps (or apt-get install $2)"
}

# percentile P FILE prints the P-th percentile (nearest rank) of the numbers
# in FILE, one per line.
percentile() {
	sort -n "$2" | awk -v p="$1" '{ v[NR] = $1 } END {
		if (NR == 0) { print "n/a"; exit }
		i = int((p / 100) * NR + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR
		print v[i] }'
}

# cpu_ticks PID prints utime+stime of PID in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
