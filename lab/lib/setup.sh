# setup.sh: builds the lab and tears it down. Sourced by lab.sh.
#
# Topology: three network namespaces. The server namespace holds a bridge
# (10.201.0.1/24); the client (.2) and the attacker (.3) namespaces each join
# it with a veth pair, so both reach the server over the same link. All
# iptables commands that change anything run inside the server namespace; the
# host's rules are only read, before and after, to show they did not change.
#
# Everything created is recorded under $T (pid files, flags) so that teardown,
# run from the EXIT trap, removes it even after a failure or Ctrl-C.

SERVER_IP=10.201.0.1
CLIENT_IP=10.201.0.2
ATTACKER_IP=10.201.0.3
# The same hosts over IPv6, on one /64 (no duplicate address detection, so
# the addresses work at once).
SERVER_IP6=fd00:201::1
CLIENT_IP6=fd00:201::2
ATTACKER_IP6=fd00:201::3
SERVICE_PORT=2222
KNOCK_PORT=6666
PROXY_PORT=1080
DELAY=${KK_LAB_DELAY:-4}
LAB_USER=${KK_LAB_USER:-knockknock}
BIN=${KK_LAB_BIN:-$TOP/bin}

# setup_dirs creates the lab's temp tree. The unprivileged monitor must be
# able to traverse it.
setup_dirs() {
	T=$(mktemp -d /tmp/kk-lab.XXXXXX)
	chmod 0755 "$T"
	mkdir -p "$T/log" "$T/pid" "$T/rsyslog" "$T/etc/profiles" "$T/client/home/.knockknock" "$T/run"
	CHECK_OUT=$T/check.out
	SOCK=$T/run/knockknock/firewall.sock
	local id
	id=$(basename "$T" | tr -dc 'a-zA-Z0-9' | tail -c 6)
	NS_S=kklab-s-$id
	NS_C=kklab-c-$id
	NS_A=kklab-a-$id
	echo "$NS_S $NS_C $NS_A" >"$T/namespaces"
	host_rules >"$T/host.rules"
	# The unprivileged monitor must be able to run its binary wherever the
	# checkout lives (/root is 0700), and a rebuild mid-run must not matter.
	mkdir -p "$T/bin"
	install -m 0755 "$BIN/kk-monitor" "$BIN/kk-firewall" "$BIN/kk-client" "$T/bin/"
	BIN=$T/bin
	# synsend, the lab's own raw-SYN tool (IPv6 replay; hping3 has no IPv6).
	(cd "$TOP" && PATH=$PATH:/usr/local/go/bin CGO_ENABLED=0 go build -trimpath -o "$T/bin/synsend" ./lab/tools/synsend) ||
		die "building lab/tools/synsend failed"
	# kkwatch, the bench's timestamper (wire, log lines, nf_tables commits).
	if [ "$MODE" = bench ]; then
		(cd "$TOP" && PATH=$PATH:/usr/local/go/bin CGO_ENABLED=0 go build -trimpath -o "$T/bin/kkwatch" ./lab/tools/kkwatch) ||
			die "building lab/tools/kkwatch failed"
	fi
}

# teardown removes everything the lab made. It runs once, from the EXIT trap.
teardown() {
	local rc=$?
	trap - EXIT INT TERM
	[ -n "${T:-}" ] && [ -d "$T" ] || exit "$rc"
	set +e
	# A trap may fire inside a redirected check: write to the lab's own output.
	exec 1>&7 2>&8
	[ "$rc" -ne 130 ] || echo "lab: interrupted; tearing down" >&2
	stop_pidfiles
	local ns pid
	for ns in $(cat "$T/namespaces" 2>/dev/null); do
		# Anything still running in our namespaces was started by the lab.
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
		ip netns del "$ns" 2>/dev/null
	done
	if [ -f "$T/sysctl.nf_log_all_netns" ]; then
		sysctl -qw net.netfilter.nf_log_all_netns="$(cat "$T/sysctl.nf_log_all_netns")"
	fi
	[ ! -f "$T/user.created" ] || remove_user
	if [ "${KK_LAB_KEEP:-}" = 1 ]; then
		echo "lab: kept $T (KK_LAB_KEEP=1)"
	else
		rm -rf "$T"
	fi
	[ "$MODE" = demo ] && echo "lab: torn down: namespaces, processes, lab user, temp files"
	exit "$rc"
}

# remove_user deletes the lab user the lab created. userdel refuses while a
# process (even an unreaped one) still has its uid, so it is retried briefly.
remove_user() {
	local i err
	for i in $(seq 20); do
		err=$(userdel "$LAB_USER" 2>&1) && break
		sleep 0.1
	done
	id "$LAB_USER" >/dev/null 2>&1 && echo "lab: could not remove user $LAB_USER: $err" >&2
	getent group "$LAB_USER" >/dev/null && groupdel "$LAB_USER" 2>/dev/null
	return 0
}

# stop_pidfiles ends every process the lab recorded, TERM first, then KILL.
stop_pidfiles() {
	local f pid
	for f in "$T"/pid/*.pid; do
		[ -f "$f" ] || continue
		pid=$(cat "$f")
		kill "$pid" 2>/dev/null
	done
	sleep 0.3
	for f in "$T"/pid/*.pid; do
		[ -f "$f" ] || continue
		pid=$(cat "$f")
		kill -9 "$pid" 2>/dev/null
		rm -f "$f"
	done
}

# pid_alive NAME reports whether the process recorded as NAME runs.
pid_alive() { [ -f "$T/pid/$1.pid" ] && kill -0 "$(cat "$T/pid/$1.pid")" 2>/dev/null; }

# stop_pid NAME ends the process recorded as NAME (with signal $2, default TERM).
stop_pid() {
	local f=$T/pid/$1.pid sig=${2:-TERM} i
	[ -f "$f" ] || return 0
	kill "-$sig" "$(cat "$f")" 2>/dev/null || true
	for i in $(seq 50); do pid_alive "$1" || break; sleep 0.1; done
	kill -9 "$(cat "$f")" 2>/dev/null || true
	rm -f "$f"
}

setup_namespaces() {
	local ns
	for ns in "$NS_S" "$NS_C" "$NS_A"; do
		ip netns add "$ns"
		ip -n "$ns" link set lo up
	done
	ip -n "$NS_S" link add br0 type bridge
	ip -n "$NS_S" addr add "$SERVER_IP/24" dev br0
	ip -n "$NS_S" addr add "$SERVER_IP6/64" dev br0 nodad
	ip -n "$NS_S" link set br0 up
	join_bridge "$NS_C" "$CLIENT_IP" pc "$CLIENT_IP6"
	join_bridge "$NS_A" "$ATTACKER_IP" pa "$ATTACKER_IP6"
}

# join_bridge NS IP PEER IP6 links NS to the server's bridge with a veth pair.
join_bridge() {
	ip -n "$NS_S" link add "$3" type veth peer name eth0 netns "$1"
	ip -n "$NS_S" link set "$3" master br0 up
	ip -n "$1" addr add "$2/24" dev eth0
	ip -n "$1" addr add "$4/64" dev eth0 nodad
	ip -n "$1" link set eth0 up
}

# enable_netns_logging lets LOG rules in non-initial namespaces reach the
# kernel log. The old value is restored at teardown.
enable_netns_logging() {
	cat /proc/sys/net/netfilter/nf_log_all_netns >"$T/sysctl.nf_log_all_netns"
	sysctl -qw net.netfilter.nf_log_all_netns=1
}

# start_service runs a tiny HTTP service on the protected port in the server
# namespace, so curl (directly or through SOCKS) shows it was reached.
start_service() {
	cat >"$T/service.sh" <<'EOF'
while IFS= read -r line; do [ -z "${line%$'\r'}" ] && break; done
printf 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 15\r\n\r\nkk-lab-service\n'
EOF
	ip netns exec "$NS_S" socat TCP-LISTEN:$SERVICE_PORT,fork,reuseaddr SYSTEM:"bash $T/service.sh" \
		>"$T/log/service.log" 2>&1 &
	echo $! >"$T/pid/service.pid"
	disown $!
	ip netns exec "$NS_S" socat TCP6-LISTEN:$SERVICE_PORT,ipv6only=1,fork,reuseaddr SYSTEM:"bash $T/service.sh" \
		>"$T/log/service6.log" 2>&1 &
	echo $! >"$T/pid/service6.pid"
	disown $!
	wait_until 5 in_ns "$NS_S" bash -c "exec 3<>/dev/tcp/127.0.0.1/$SERVICE_PORT" ||
		die "the lab service did not start on port $SERVICE_PORT: $(cat "$T/log/service.log")"
}

# load_firewall loads the shipped rules, IPv4 and IPv6, inside the server
# namespace. The script learns the knock ports from the profiles (kk-monitor
# firewall-rules).
load_firewall() {
	in_ns "$NS_S" env PATH="$BIN:$PATH" sh "$TOP/firewall/knockknock-firewall.sh" -d "$T/etc/profiles" -u "$LAB_USER" start
}

# setup_user creates the unprivileged lab user (and its group, which owns the
# firewall socket) if missing. kk-monitor gets the adm group, which reads
# kern.log, when it starts, as SupplementaryGroups=adm does in its unit.
setup_user() {
	if ! id "$LAB_USER" >/dev/null 2>&1; then
		useradd --system --user-group --no-create-home --home-dir / \
			--shell /usr/sbin/nologin "$LAB_USER"
		touch "$T/user.created"
	fi
	LAB_GROUP=$(id -gn "$LAB_USER")
}
