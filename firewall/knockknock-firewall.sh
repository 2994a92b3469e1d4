#!/bin/sh
# knockknock-firewall.sh: the server firewall kk expects.
#
# It rejects every new inbound connection, logs rejected packets to the kernel
# log with their TCP sequence numbers (where kk-monitor reads knocks), and
# keeps what the original knockknock's rules lacked: a dedicated LOG rule for
# the knock ports, limited per source address, placed ahead of the general
# rate-limited LOG rule. A flood from one address can then no longer starve
# everybody else's knocks.
#
# The rules live in kk's own chains (KK_INPUT, KK_KNOCKLOG, KK_REJECTLOG), so
# running the script again replaces them without touching other rules, and
# without touching the KNOCKKNOCK chain that kk-firewall manages (its jump sits
# at INPUT position 1, ahead of everything here).
#
# Usage: knockknock-firewall.sh [options] start|stop|show
#   start   create or refresh the chains and append "-j KK_INPUT" to INPUT
#   stop    remove the jump and kk's chains (kk-firewall cleanup removes KNOCKKNOCK)
#   show    print the iptables commands that start would run, change nothing
# Options:
#   -k PORTS    knock ports, comma separated (default: read from the profiles)
#   -d DIR      profiles directory (default /etc/knockknock.d/profiles)
#   -u USER     read the profiles as USER when run as root (default knockknock,
#               kk-monitor's user; root itself if no such user exists)
#   -a PORTS    public TCP ports to accept from anywhere, comma separated (e.g. 80,443)
#   -l PREFIX   log prefix (default "REJECT ", as log_prefix in /etc/knockknock.d/config)
#   -r RATE     per-source LOG rate for knock ports, packets/s (default 10)
#   -b BURST    per-source LOG burst for knock ports (default 20)
#   -4          IPv4 only (default: IPv4, and IPv6 when ip6tables works)
# Environment: IPTABLES, IP6TABLES pick the binaries (default iptables, ip6tables).
set -eu

PROFILES=/etc/knockknock.d/profiles
OWNER=knockknock
KNOCK_PORTS=
PUBLIC_PORTS=
PREFIX="REJECT "
RATE=10
BURST=20
# The per-source limit's hash table: buckets and most sources tracked.
HTABLE_SIZE=32768
HTABLE_MAX=262144
V4ONLY=
DRYRUN=

usage() {
	echo "usage: $0 [-k PORTS] [-d PROFILES_DIR] [-u USER] [-a PUBLIC_PORTS] [-l PREFIX] [-r RATE] [-b BURST] [-4] start|stop|show" >&2
	exit 2
}

die() {
	echo "knockknock-firewall: $*" >&2
	exit 1
}

# as_owner runs a command as $OWNER, the user that owns the profiles
# (kk-monitor's user), when this script runs as root and that user exists.
# Root never reads files that user can change: a symlink planted in a
# profile then leads nowhere the owner could not read anyway. Under
# knockknock-firewall.service this needs CAP_SETUID and CAP_SETGID, and
# nothing else: setpriv drops every capability with the uid.
as_owner() {
	if [ "$(id -u)" -eq 0 ] && id -u "$OWNER" >/dev/null 2>&1; then
		setpriv --reuid="$OWNER" --regid="$OWNER" --clear-groups --no-new-privs -- "$@"
	else
		"$@"
	fi
}

# profile_ports prints the knock ports of the profiles under $PROFILES,
# comma separated, read as $OWNER. kk-monitor firewall-rules reads them as
# the monitor does (skipping broken profiles, refusing duplicate ports);
# without kk-monitor the knock_port lines are read directly.
profile_ports() {
	mon=$(command -v kk-monitor || true)
	[ -n "$mon" ] || [ ! -x "$(dirname "$0")/../bin/kk-monitor" ] || mon="$(dirname "$0")/../bin/kk-monitor"
	if [ -n "$mon" ]; then
		as_owner "$mon" firewall-rules --profiles "$PROFILES" || true
		return
	fi
	# shellcheck disable=SC2016
	as_owner sh -c 'for cfg in "$1"/*/config; do
		[ -r "$cfg" ] || continue
		sed -n "s/^[[:space:]]*knock_port[[:space:]]*[=:][[:space:]]*\([0-9][0-9]*\).*/\1/p" "$cfg"
	done' sh "$PROFILES" | sort -un | paste -sd, -
}

# valid_ports reports whether $1 is a comma separated list of ports 1-65535.
valid_ports() {
	for p in $(echo "$1" | tr ',' ' '); do
		case "$p" in '' | *[!0-9]*) return 1 ;; esac
		[ "$p" -ge 1 ] && [ "$p" -le 65535 ] || return 1
	done
}

# ipt runs (or, for show, prints) one iptables command with binary $IPT.
ipt() {
	if [ -n "$DRYRUN" ]; then
		printf '%s' "$IPT"
		for a in "$@"; do case "$a" in *' '* | '') printf " '%s'" "$a" ;; *) printf ' %s' "$a" ;; esac; done
		echo
	else
		"$IPT" -w 5 "$@"
	fi
}

# ensure_chain creates chain $1 if missing and empties it.
ensure_chain() {
	[ -n "$DRYRUN" ] || "$IPT" -w 5 -n -L "$1" >/dev/null 2>&1 || "$IPT" -w 5 -N "$1"
	[ -z "$DRYRUN" ] || ipt -N "$1"
	ipt -F "$1"
}

# log_rule appends a LOG rule with the arguments both LOG rules share.
log_rule() {
	ipt "$@" -j LOG --log-level debug --log-tcp-sequence --log-tcp-options --log-ip-options \
		--log-prefix "$PREFIX"
}

# reject_rules appends the REJECT rules to chain $1.
reject_rules() {
	ipt -A "$1" -p tcp -j REJECT --reject-with tcp-reset
	ipt -A "$1" -j REJECT
}

# expire_ms prints how long, in ms, the per-source limit keeps an idle
# source: the time its bucket takes to refill, at least a second.
expire_ms() {
	e=$(((BURST + RATE - 1) / RATE * 1000))
	[ "$e" -ge 1000 ] || e=1000
	echo "$e"
}

start_family() {
	ensure_chain KK_KNOCKLOG
	ensure_chain KK_REJECTLOG
	ensure_chain KK_INPUT
	# Knock ports: one LOG per knock, limited per source address, and no
	# second LOG line from the general rule. An IPv6 host usually holds a
	# whole /64, so there the "source" is the /64.
	#
	# A flood from spoofed random sources needs a table entry per packet,
	# and a full table drops a new source's SYN unlogged: a client's first
	# knock then loses to the flood. So an entry lives only as long as its
	# bucket takes to refill (BURST/RATE seconds, at least 1; a source idle
	# that long would have a full bucket again anyway, so the limit is the
	# same), and the table holds up to 262144 sources: a flood of 130,000
	# new sources a second, at about 32 MB of kernel memory while it lasts.
	mask=32
	[ "$FAMILY" = 4 ] || mask=64
	log_rule -A KK_KNOCKLOG -p tcp --syn -m hashlimit --hashlimit-mode srcip --hashlimit-srcmask "$mask" \
		--hashlimit-upto "$RATE/sec" --hashlimit-burst "$BURST" \
		--hashlimit-name "kk_knock$FAMILY" --hashlimit-htable-expire "$(expire_ms)" \
		--hashlimit-htable-size "$HTABLE_SIZE" --hashlimit-htable-max "$HTABLE_MAX"
	reject_rules KK_KNOCKLOG
	# Everything else: the seed's global limit, so a port scan cannot fill the disk.
	log_rule -A KK_REJECTLOG -m limit --limit 3/s --limit-burst 8
	reject_rules KK_REJECTLOG

	ipt -A KK_INPUT -i lo -j ACCEPT
	ipt -A KK_INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
	if [ "$FAMILY" = 6 ]; then
		# Neighbour discovery and PMTU need ICMPv6.
		ipt -A KK_INPUT -p ipv6-icmp -j ACCEPT
	fi
	for p in $(echo "$PUBLIC_PORTS" | tr ',' ' '); do
		ipt -A KK_INPUT -p tcp --dport "$p" -m conntrack --ctstate NEW -j ACCEPT
	done
	for p in $(echo "$KNOCK_PORTS" | tr ',' ' '); do
		ipt -A KK_INPUT -p tcp --dport "$p" -j KK_KNOCKLOG
	done
	ipt -A KK_INPUT -j KK_REJECTLOG

	if [ -n "$DRYRUN" ] || ! "$IPT" -w 5 -C INPUT -j KK_INPUT 2>/dev/null; then
		ipt -A INPUT -j KK_INPUT
	fi
}

stop_family() {
	while "$IPT" -w 5 -D INPUT -j KK_INPUT 2>/dev/null; do :; done
	for c in KK_INPUT KK_KNOCKLOG KK_REJECTLOG; do
		"$IPT" -w 5 -F "$c" 2>/dev/null || true
	done
	for c in KK_INPUT KK_KNOCKLOG KK_REJECTLOG; do
		"$IPT" -w 5 -X "$c" 2>/dev/null || true
	done
}

# families prints "4 binary" and, unless -4, "6 binary" when ip6tables works.
families() {
	echo "4 ${IPTABLES:-iptables}"
	[ -n "$V4ONLY" ] && return
	ip6="${IP6TABLES:-ip6tables}"
	if "$ip6" -w 5 -n -L INPUT >/dev/null 2>&1; then echo "6 $ip6"; fi
}

main() {
	while getopts k:d:u:a:l:r:b:4h opt; do
		case "$opt" in
		k) KNOCK_PORTS=$OPTARG ;;
		d) PROFILES=$OPTARG ;;
		u) OWNER=$OPTARG ;;
		a) PUBLIC_PORTS=$OPTARG ;;
		l) PREFIX=$OPTARG ;;
		r) RATE=$OPTARG ;;
		b) BURST=$OPTARG ;;
		4) V4ONLY=1 ;;
		*) usage ;;
		esac
	done
	shift $((OPTIND - 1))
	[ $# -eq 1 ] || usage
	action=$1
	case "$action" in start | show | stop) ;; *) usage ;; esac
	[ "$action" = show ] && DRYRUN=1

	if [ "$action" != stop ]; then
		[ -n "$KNOCK_PORTS" ] || KNOCK_PORTS=$(profile_ports)
		[ -n "$KNOCK_PORTS" ] || die "no knock ports: no profile with knock_port in $PROFILES/*/config; create one with 'kk-monitor genprofile <knockPort> <profileName>' or pass -k PORTS"
		valid_ports "$KNOCK_PORTS" || die "-k: bad knock port list '$KNOCK_PORTS': want comma separated ports 1-65535"
		[ -z "$PUBLIC_PORTS" ] || valid_ports "$PUBLIC_PORTS" || die "-a: bad public port list '$PUBLIC_PORTS': want comma separated ports 1-65535"
		case "$RATE$BURST" in '' | *[!0-9]*) die "-r/-b: rate and burst must be positive integers" ;; esac
	fi

	families | while read -r FAMILY IPT; do
		command -v "$IPT" >/dev/null || die "$IPT not found: install the iptables package"
		case "$action" in
		start | show) start_family ;;
		stop) stop_family ;;
		esac
	done
}

main "$@"
