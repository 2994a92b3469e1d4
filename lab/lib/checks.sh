# checks.sh: the lab's checks. Each check function prints a short detail and
# returns 0 for PASS; lab.sh wraps it with `check` to print one line.
# Sourced by lab.sh.

# chk_activated: kk-firewall got its socket from systemd-socket-activate.
chk_activated() {
	local pid
	pid=$(cat "$T/pid/firewall.pid")
	[ "$(cat "/proc/$pid/comm")" = kk-firewall ] || { echo "pid $pid is $(cat "/proc/$pid/comm"), not kk-firewall"; return 1; }
	tr '\0' '\n' <"/proc/$pid/environ" | grep -qx 'LISTEN_FDS=1' || { echo "no LISTEN_FDS=1 in its environment"; return 1; }
	echo "pid $pid, LISTEN_FDS=1, socket $(stat -c '%A %U:%G' "$SOCK")"
}

# state_counter_moved reports whether the state counter file $1 is past 0.
state_counter_moved() {
	[ -f "$1" ] && [ "$(cat "$1")" -gt 0 ] 2>/dev/null
}

# chk_profile_readonly: after the knocks, the monitor's counter (state_dir)
# has moved, the profile's own counter file is still genprofile's 0, and
# the monitor's user may not write the profile's keys or directory.
chk_profile_readonly() {
	local state=$T/state/lab/counter prof=$T/etc/profiles/lab
	# The state counter file follows the durable record within 5 s.
	wait_until 10 state_counter_moved "$state" || { echo "no state counter past 0 in $state after 10 s"; return 1; }
	[ "$(cat "$prof/counter")" = 0 ] || { echo "$prof/counter was written: $(cat "$prof/counter")"; return 1; }
	if setpriv --reuid="$LAB_USER" --regid="$LAB_GROUP" --groups="$LAB_GROUP,adm" -- 		sh -c "echo x >>'$prof/cipher.key' || touch '$prof/new'" 2>/dev/null; then
		echo "$LAB_USER could change $prof"
		return 1
	fi
	echo "state counter $(cat "$state"), $prof/counter still 0, $prof $(stat -c '%a %U:%G' "$prof"), keys $(stat -c '%a %U:%G' "$prof/cipher.key")"
}

# chk_monitor_unprivileged: kk-monitor runs as the lab user with no capabilities.
chk_monitor_unprivileged() {
	local pid uid caps
	pid=$(cat "$T/pid/monitor.pid")
	uid=$(awk '/^Uid:/ { print $3 }' "/proc/$pid/status")
	caps=$(awk '/^CapEff:/ { print $2 }' "/proc/$pid/status")
	[ "$uid" = "$(id -u "$LAB_USER")" ] || { echo "runs as uid $uid"; return 1; }
	[ "$caps" = 0000000000000000 ] || { echo "has capabilities $caps"; return 1; }
	echo "user $LAB_USER (uid $uid), CapEff=0"
}

# monitor_check [ARGS...] runs kk-monitor check on the lab's files, as root in
# the server namespace (where the LOG rules are), into $T/check-run.out, and
# returns its exit status.
monitor_check() {
	in_ns "$NS_S" "$BIN/kk-monitor" check --config "$T/etc/config" --profiles "$T/etc/profiles" \
		--user "$LAB_USER" "$@" >"$T/check-run.out" 2>&1
}

# chk_monitor_check: kk-monitor check says OK for the running lab, as root
# and as the monitor's user (who may not read iptables: a WARN, not a FAIL),
# and FAIL with the fix when the knock port's LOG rule is gone or the socket
# is dead; reloading the rules makes it OK again.
chk_monitor_check() {
	local ok
	monitor_check || { echo "working lab: exit $?: $(grep -v '^OK' "$T/check-run.out" | head -2)"; return 1; }
	ok=$(grep -c '^OK    ' "$T/check-run.out")
	# In the server namespace the check cannot see net.netfilter.nf_log_all_netns (a WARN that says so).
	[ "$ok" -ge 7 ] && ! grep -v '^OK    ' "$T/check-run.out" | grep -qv '^WARN  net.netfilter.nf_log_all_netns: not checked' ||
		{ echo "working lab, not all OK: $(grep -v '^OK' "$T/check-run.out" | head -2)"; return 1; }
	in_ns "$NS_S" setpriv --reuid="$LAB_USER" --regid="$LAB_GROUP" --groups="$LAB_GROUP,adm" --inh-caps=-all -- \
		"$BIN/kk-monitor" check --config "$T/etc/config" --profiles "$T/etc/profiles" --user "$LAB_USER" >"$T/check-run.out" 2>&1 ||
		{ echo "as $LAB_USER: exit $?: $(grep -v '^OK' "$T/check-run.out" | head -2)"; return 1; }
	grep -q "^WARN  LOG rules for the knock ports: not checked: reading iptables needs root" "$T/check-run.out" &&
		grep -q "^OK    kk-firewall on $SOCK: SERVING, asked as $LAB_USER" "$T/check-run.out" ||
		{ echo "as $LAB_USER: $(grep -v '^OK' "$T/check-run.out" | head -2)"; return 1; }
	in_ns "$NS_S" iptables -w 5 -D KK_KNOCKLOG 1
	monitor_check && { echo "LOG rule deleted: exit 0"; load_firewall; return 1; }
	load_firewall >/dev/null
	grep -q "^FAIL  LOG rule for knock port $KNOCK_PORT (profile lab): a SYN to port $KNOCK_PORT meets no LOG rule.*; fix: knockknock-firewall.sh start" "$T/check-run.out" ||
		{ echo "LOG rule deleted: $(grep -v '^OK' "$T/check-run.out" | head -2)"; return 1; }
	monitor_check --socket "$T/run/dead.sock" && { echo "dead socket: exit 0"; return 1; }
	grep -q "^FAIL  kk-firewall on $T/run/dead.sock: .*; fix: systemctl start kk-firewall.socket" "$T/check-run.out" ||
		{ echo "dead socket: $(grep -v '^OK' "$T/check-run.out" | head -2)"; return 1; }
	monitor_check || { echo "after reloading the rules: $(grep -v '^OK' "$T/check-run.out" | head -2)"; return 1; }
	echo "$ok OK as root; WARN for iptables as $LAB_USER; FAIL+fix, exit 1 without the LOG rule and with a dead socket; OK after reload"
}

# chk_before_knock: the protected port is closed and the refusal is logged.
chk_before_knock() {
	local before
	before=$(wc -l <"$T/log/kern.log")
	if connect "$NS_C"; then echo "connected before any knock"; return 1; fi
	wait_until 5 bash -c "tail -n +$((before + 1)) '$T/log/kern.log' | grep -q 'REJECT .*SRC=$CLIENT_IP .*DPT=$SERVICE_PORT '" ||
		{ echo "refused, but no REJECT line reached the lab's kern.log"; return 1; }
	echo "refused, REJECT line in kern.log"
}

# chk_knock_opens: a knock from the client opens the service port for it, and
# the client connects.
chk_knock_opens() {
	local t0 t1
	t0=$(now)
	knock "$SERVICE_PORT" >/dev/null || { echo "kk-client failed"; return 1; }
	wait_until 5 rule_present "$CLIENT_IP" "$SERVICE_PORT" || { echo "no rule within 5 s"; return 1; }
	t1=$(now)
	connect "$NS_C" || { echo "rule present but the connection failed"; return 1; }
	echo "rule after $(ms "$t0" "$t1") ms, service reached"
}

# chk_attacker_refused: the opening is for the client's address only.
chk_attacker_refused() {
	if connect "$NS_A"; then echo "the attacker connected"; return 1; fi
	echo "refused"
}

# chk_expires: the rule is gone within a second of its deadline (plus the
# polling here) and a new connection fails.
chk_expires() {
	local deadline late
	deadline=$(rule_deadline "$CLIENT_IP" "$SERVICE_PORT")
	[ -n "$deadline" ] || { echo "no opening with a deadline= comment to watch"; return 1; }
	wait_until $((DELAY + 3)) rule_absent "$CLIENT_IP" "$SERVICE_PORT" ||
		{ echo "rule still present $((DELAY + 3)) s later (deadline $deadline)"; return 1; }
	late=$(ms "$(date -d "$deadline" +%s)" "$(now)")
	[ "$late" -le 1500 ] || { echo "rule removed $late ms after its deadline $deadline"; return 1; }
	if connect "$NS_C"; then echo "rule gone but a connection still succeeded"; return 1; fi
	echo "rule gone $late ms after its deadline, connection refused"
}

# chk_ipv6: over IPv6, with the same profile: the client is refused, its
# knock (kk-client -6, the ID in the flow label) opens the port for its IPv6
# address only (an ip6tables rule), the attacker stays refused, and the rule
# expires.
chk_ipv6() {
	if connect6 "$NS_C"; then echo "connected over IPv6 before any knock"; return 1; fi
	in_ns "$NS_C" env HOME="$T/client/home" "$BIN/kk-client" -6 -p "$SERVICE_PORT" -s "$SERVER_IP6" -d "$CLIENT_PROFILE" >/dev/null ||
		{ echo "kk-client -6 failed"; return 1; }
	wait_until 5 rule6_present "$CLIENT_IP6" || { echo "no ip6tables rule within 5 s: $(grep FLOWLBL "$T/log/kern.log" | tail -1)"; return 1; }
	connect6 "$NS_C" || { echo "rule present but the IPv6 connection failed"; return 1; }
	if connect6 "$NS_A"; then echo "the attacker connected over IPv6"; return 1; fi
	wait_until $((DELAY + 3)) rule6_absent "$CLIENT_IP6" ||
		{ echo "IPv6 rule still present $((DELAY + 3)) s later"; return 1; }
	if connect6 "$NS_C"; then echo "IPv6 rule gone but a connection still succeeded"; return 1; fi
	echo "knock logged with FLOWLBL=, ip6tables rule, service reached over IPv6, attacker refused, rule expired"
}

rule6_present() {
	in_ns "$NS_S" ip6tables -w 5 -S KNOCKKNOCK 2>/dev/null | grep -qE -- "^-A KNOCKKNOCK -s $1/128 .*--dport $SERVICE_PORT( |$)"
}

rule6_absent() { ! rule6_present "$@"; }

connect6() {
	in_ns "$1" curl -s --max-time 3 "http://[$SERVER_IP6]:$SERVICE_PORT/" 2>/dev/null | grep -q kk-lab-service
}

# last_knock_fields prints "ID SEQ ACK WINDOW" of the client's last knock in kern.log.
last_knock_fields() {
	grep -E "REJECT .*SRC=$CLIENT_IP .*DPT=$KNOCK_PORT .* SYN " "$T/log/kern.log" | tail -1 |
		sed -nE 's/.* ID=([0-9]+) .* SEQ=([0-9]+) ACK=([0-9]+) WINDOW=([0-9]+) .*/\1 \2 \3 \4/p'
}

# chk_replay NS IP: the client's last knock, resent by hping3 from NS, opens nothing.
chk_replay() {
	local ns=$1 ip=$2 fields id seq ack win before
	fields=$(last_knock_fields)
	[ -n "$fields" ] || { echo "no knock line from $CLIENT_IP in kern.log"; return 1; }
	read -r id seq ack win <<<"$fields"
	before=$(wc -l <"$T/log/kern.log")
	in_ns "$ns" timeout 10 hping3 -q -S -c 1 -p "$KNOCK_PORT" -N "$id" -M "$seq" -L "$ack" -w "$win" "$SERVER_IP" >/dev/null 2>&1
	wait_until 5 bash -c "tail -n +$((before + 1)) '$T/log/kern.log' | grep -q 'SRC=$ip .*ID=$id .*SEQ=$seq ACK=$ack WINDOW=$win '" ||
		{ echo "the replayed SYN never reached kern.log"; return 1; }
	# Give the monitor the time a real knock needs, many times over.
	sleep 1.5
	if in_ns "$NS_S" iptables -w 5 -S KNOCKKNOCK | grep -q -- "-s $ip/32"; then
		echo "replay opened a rule for $ip"
		return 1
	fi
	if connect "$ns"; then echo "replay let $ip connect"; return 1; fi
	echo "ID=$id SEQ=$seq ACK=$ack WINDOW=$win logged, refused"
}

# expand6 ADDR prints ADDR in the form the kernel's LOG target writes:
# eight groups of four hex digits (fd00:201::2 -> fd00:0201:0000:...:0002).
expand6() {
	local head=$1 tail= g out=() h=() t=()
	if [[ $1 == *::* ]]; then head=${1%%::*} tail=${1#*::}; fi
	[ -z "$head" ] || IFS=: read -ra h <<<"$head"
	[ -z "$tail" ] || IFS=: read -ra t <<<"$tail"
	for g in "${h[@]}"; do out+=("$(printf '%04x' "0x$g")"); done
	for ((g = ${#h[@]} + ${#t[@]}; g < 8; g++)); do out+=(0000); done
	for g in "${t[@]}"; do out+=("$(printf '%04x' "0x$g")"); done
	(IFS=:; echo "${out[*]}")
}

# last_knock6_fields prints "FLOWLBL SEQ ACK WINDOW" of the client's last IPv6 knock in kern.log.
last_knock6_fields() {
	grep -E "REJECT .*SRC=$(expand6 "$CLIENT_IP6") .*FLOWLBL=.*DPT=$KNOCK_PORT .* SYN " "$T/log/kern.log" | tail -1 |
		sed -nE 's/.* FLOWLBL=([0-9]+) .* SEQ=([0-9]+) ACK=([0-9]+) WINDOW=([0-9]+) .*/\1 \2 \3 \4/p'
}

# chk_replay6 NS IP6: chk_replay over IPv6: the client's last IPv6 knock,
# resent by the lab's synsend (hping3 cannot send IPv6) from NS with source
# IP6, the ID in the flow label, opens nothing.
chk_replay6() {
	local ns=$1 ip=$2 fields id seq ack win before
	fields=$(last_knock6_fields)
	[ -n "$fields" ] || { echo "no IPv6 knock line from $CLIENT_IP6 in kern.log"; return 1; }
	read -r id seq ack win <<<"$fields"
	before=$(wc -l <"$T/log/kern.log")
	in_ns "$ns" timeout 10 "$T/bin/synsend" -src "$ip" -dst "$SERVER_IP6" -dport "$KNOCK_PORT" \
		-id "$id" -seq "$seq" -ack "$ack" -win "$win" || { echo "synsend failed"; return 1; }
	wait_until 5 bash -c "tail -n +$((before + 1)) '$T/log/kern.log' | grep -q 'SRC=$(expand6 "$ip") .*FLOWLBL=$id .*SEQ=$seq ACK=$ack WINDOW=$win '" ||
		{ echo "the replayed SYN never reached kern.log"; return 1; }
	# Give the monitor the time a real knock needs, many times over.
	sleep 1.5
	if in_ns "$NS_S" ip6tables -w 5 -S KNOCKKNOCK | grep -q -- "-s $ip/128"; then
		echo "replay opened an ip6tables rule for $ip"
		return 1
	fi
	if connect6 "$ns"; then echo "replay let $ip connect over IPv6"; return 1; fi
	echo "FLOWLBL=$id SEQ=$seq ACK=$ack WINDOW=$win logged, refused"
}

# chk_proxy: a SOCKS5 connection through kk-client proxy knocks and connects
# with the credentials the proxy made, and is refused without them.
chk_proxy() {
	local out creds url="http://$SERVER_IP:$SERVICE_PORT/"
	creds=$(cat "$T/client/home/.knockknock/proxy-credentials") || { echo "the proxy made no credentials"; return 1; }
	if in_ns "$NS_C" curl -s --max-time 10 --socks5 "127.0.0.1:$PROXY_PORT" "$url" >/dev/null 2>&1; then
		echo "curl --socks5 without credentials was served"
		return 1
	fi
	out=$(in_ns "$NS_C" curl -s --max-time 10 --socks5 "$creds@127.0.0.1:$PROXY_PORT" "$url" 2>&1)
	grep -q kk-lab-service <<<"$out" || { echo "curl --socks5 with the credentials got: ${out:-nothing}"; return 1; }
	echo "curl --socks5 with ~/.knockknock/proxy-credentials reached the service; without them, refused"
}

# chk_logrotate: rotate kern.log with logrotate (rename, create, HUP), then knock.
chk_logrotate() {
	cat >"$T/logrotate.conf" <<EOF
$T/log/kern.log {
	rotate 2
	missingok
	create 0640 root adm
	postrotate
		kill -HUP \$(cat $T/pid/rsyslog.pid)
	endscript
}
EOF
	# A knock must not be judged by an earlier opening still in the chain.
	wait_until $((DELAY + 3)) rule_absent "$CLIENT_IP" "$SERVICE_PORT" || { echo "an earlier opening never expired"; return 1; }
	local mlines
	mlines=$(wc -l <"$T/log/kk-monitor.log")
	timeout 20 logrotate -f -s "$T/logrotate.state" "$T/logrotate.conf" || { echo "logrotate failed"; return 1; }
	[ -f "$T/log/kern.log.1" ] || { echo "logrotate did not rotate"; return 1; }
	sleep 0.5
	knock "$SERVICE_PORT" >/dev/null || { echo "kk-client failed"; return 1; }
	if ! wait_until 5 rule_present "$CLIENT_IP" "$SERVICE_PORT"; then
		echo "no rule within 5 s of a knock after rotation"
		tail -n +$((mlines + 1)) "$T/log/kk-monitor.log" | grep -m1 'level=ERROR' | cut -c1-300
		return 1
	fi
	connect "$NS_C" || { echo "rule present but the connection failed"; return 1; }
	grep -q "SRC=$CLIENT_IP .*DPT=$KNOCK_PORT " "$T/log/kern.log" || { echo "the knock went to the old file"; return 1; }
	echo "rotated to kern.log.1, knock in the new kern.log opened"
}

# chk_install: make install's script into a temp DESTDIR puts every file in
# place (units naming the installed binaries, kk-client with cap_net_raw),
# and uninstall removes them all but the config.
chk_install() {
	local d=$T/destdir f left n
	# The lab copied the binaries into $T/bin; the man pages stay where
	# make man wrote them.
	DESTDIR=$d PREFIX=/usr MANSRC="${KK_LAB_BIN:-$TOP/bin}/man" bash "$TOP/systemd/install.sh" install "$BIN" >"$T/log/install.out" 2>&1 ||
		{ echo "install failed: $(tail -3 "$T/log/install.out")"; return 1; }
	for f in usr/bin/kk-monitor usr/bin/kk-firewall usr/bin/kk-client usr/sbin/knockknock-firewall.sh \
		usr/lib/systemd/system/kk-firewall.socket usr/lib/systemd/system/kk-firewall.service \
		usr/lib/systemd/system/kk-monitor.service usr/lib/systemd/system/knockknock-firewall.service \
		usr/lib/sysusers.d/knockknock.conf \
		usr/lib/tmpfiles.d/knockknock.conf etc/knockknock.d/config etc/rsyslog.d/30-knockknock.conf \
		etc/logrotate.d/knockknock usr/share/man/man1/kk-client.1 usr/share/man/man5/knockknock.conf.5 \
		usr/share/man/man8/kk-monitor.8 usr/share/man/man8/kk-firewall.8; do
		[ -f "$d/$f" ] || { echo "install did not create /$f"; return 1; }
	done
	grep -q '^ExecStart=/usr/bin/kk-firewall ' "$d/usr/lib/systemd/system/kk-firewall.service" ||
		{ echo "kk-firewall.service does not run /usr/bin/kk-firewall"; return 1; }
	grep -q '^ExecStart=/usr/sbin/knockknock-firewall.sh start$' "$d/usr/lib/systemd/system/knockknock-firewall.service" ||
		{ echo "knockknock-firewall.service does not run /usr/sbin/knockknock-firewall.sh"; return 1; }
	if [ -f "$TOP/systemd/kk-client-proxy.service" ]; then
		grep -q '^ExecStart=/usr/bin/kk-client ' "$d/usr/lib/systemd/user/kk-client-proxy.service" ||
			{ echo "the kk-client-proxy user unit is missing or does not run /usr/bin/kk-client"; return 1; }
	fi
	getcap "$d/usr/bin/kk-client" | grep -q 'cap_net_raw=ep' || { echo "kk-client lacks cap_net_raw+ep"; return 1; }
	for f in usr/bin/knockknock:kk-client usr/bin/knockknock-proxy:kk-client \
		usr/sbin/knockknock-daemon:kk-monitor usr/sbin/knockknock-genprofile:kk-monitor; do
		[ "$(readlink -f "$d/${f%%:*}")" = "$(readlink -f "$d/usr/bin/${f#*:}")" ] ||
			{ echo "/${f%%:*} is not a symlink to /usr/bin/${f#*:}"; return 1; }
	done
	for f in man1/knockknock.1:kk-client.1 man1/knockknock-proxy.1:kk-client.1 \
		man8/knockknock-daemon.8:kk-monitor.8 man8/knockknock-genprofile.8:kk-monitor.8; do
		[ "$(readlink "$d/usr/share/man/${f%%:*}")" = "${f#*:}" ] ||
			{ echo "/usr/share/man/${f%%:*} is not a symlink to ${f#*:}"; return 1; }
	done
	n=$(cd "$d" && find . -type f | wc -l)
	DESTDIR=$d PREFIX=/usr bash "$TOP/systemd/install.sh" uninstall "$BIN" >>"$T/log/install.out" 2>&1 ||
		{ echo "uninstall failed: $(tail -3 "$T/log/install.out")"; return 1; }
	left=$(cd "$d" && find . -type f | sort | tr '\n' ' ')
	[ "$left" = "./etc/knockknock.d/config " ] || { echo "uninstall left: $left"; return 1; }
	left=$(cd "$d" && find . -type l | tr '\n' ' ')
	[ -z "$left" ] || { echo "uninstall left symlinks: $left"; return 1; }
	echo "$n files, the original's 4 names and their man pages installed, cap_net_raw=ep on kk-client, uninstall kept only /etc/knockknock.d/config"
}

# chk_reknock: a second knock while the port is open gives a new rule (a new
# deadline) that admits exactly one more connection.
chk_reknock() {
	local d0 d1
	d0=$(rule_deadline "$CLIENT_IP" "$SERVICE_PORT")
	[ -n "$d0" ] || { echo "no opening to knock again on"; return 1; }
	if connect "$NS_C"; then echo "a second connection got in on one knock"; return 1; fi
	# Deadlines have one-second resolution: make sure the new one differs.
	sleep 1.1
	knock "$SERVICE_PORT" >/dev/null || { echo "kk-client failed"; return 1; }
	wait_until 5 bash -c "[ \"\$(ip netns exec $NS_S iptables -w 5 -S KNOCKKNOCK | grep -c -- '-s $CLIENT_IP/32 .*--dport $SERVICE_PORT ')\" = 1 ] &&
		! ip netns exec $NS_S iptables -w 5 -S KNOCKKNOCK | grep -q 'deadline=$d0'" ||
		{ echo "no single rule with a new deadline within 5 s"; return 1; }
	d1=$(rule_deadline "$CLIENT_IP" "$SERVICE_PORT")
	connect "$NS_C" || { echo "the second knock did not admit a connection"; return 1; }
	if connect "$NS_C"; then echo "the second knock admitted two connections"; return 1; fi
	echo "deadline $d0 -> $d1, one rule, one more connection, then refused"
}

# host_rules prints the host's own iptables rules, without counters.
host_rules() {
	# grep -v exits 1 on an empty ruleset; that is not an error here.
	{ iptables-save; ip6tables-save; } 2>/dev/null | { grep -v '^#' || true; }
}

# chk_host_untouched: the host's rules are what they were before the lab.
chk_host_untouched() {
	host_rules | cmp -s - "$T/host.rules" || { echo "the host's iptables rules changed during the lab"; return 1; }
	echo "iptables-save of the host identical before and after ($(grep -c '^-A' "$T/host.rules") rules)"
}

# chk_daemons_healthy: after everything above, kk-monitor and kk-firewall
# still run and neither logged an error or a panic.
chk_daemons_healthy() {
	local d bad
	for d in monitor firewall; do
		pid_alive "$d" || { echo "kk-$d is not running"; return 1; }
		bad=$(grep -E 'level=ERROR|^panic:|^fatal error:' "$T/log/kk-$d.log" | head -1 | cut -c1-240)
		[ -z "$bad" ] || { echo "kk-$d logged: $bad"; return 1; }
	done
	echo "both running; no ERROR, panic or fatal line in their logs"
}
