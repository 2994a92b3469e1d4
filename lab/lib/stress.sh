# stress.sh: the crash check and the flood proof. Sourced by lab.sh.

# chk_kill9: with a port open, kill -9 kk-firewall. The kernel must stop
# matching the rule at its deadline (-m time --datestop) with no helper
# alive, and the next start must sweep the stale rule.
chk_kill9() {
	local deadline stop_at
	wait_until $((DELAY + 3)) rule_absent "$CLIENT_IP" "$SERVICE_PORT" || { echo "an earlier opening never expired"; return 1; }
	knock "$SERVICE_PORT" >/dev/null || { echo "kk-client failed"; return 1; }
	wait_until 5 rule_present "$CLIENT_IP" "$SERVICE_PORT" || { echo "no rule within 5 s"; return 1; }
	deadline=$(rule_deadline "$CLIENT_IP" "$SERVICE_PORT")
	[ -n "$deadline" ] || { echo "no deadline= in the rule's comment"; return 1; }
	in_ns "$NS_S" iptables -w 5 -S KNOCKKNOCK | grep -- "-s $CLIENT_IP/32" | grep -q -- '--datestop' ||
		{ echo "the rule has no -m time --datestop"; return 1; }
	stop_pid firewall KILL
	# Wait out the deadline, plus a second for the time match's resolution.
	stop_at=$(($(date -d "$deadline" +%s) + 1))
	while [ "$(date +%s)" -le "$stop_at" ]; do sleep 0.2; done
	rule_present "$CLIENT_IP" "$SERVICE_PORT" || { echo "the rule vanished although kk-firewall was dead"; return 1; }
	if connect "$NS_C"; then echo "connected after the deadline: the kernel still matched the rule"; return 1; fi
	start_firewall
	# The first connection makes systemd-socket-activate exec kk-firewall.
	timeout 5 socat -u /dev/null "UNIX-CONNECT:$SOCK" || { echo "could not connect to the restarted helper"; return 1; }
	wait_until 5 rule_absent "$CLIENT_IP" "$SERVICE_PORT" || { echo "the restarted helper did not sweep the rule"; return 1; }
	echo "deadline $deadline: unmatched with the helper dead, swept by the next start"
}

# knock_port_packets prints how many packets reached the knock port's LOG chain.
knock_port_packets() {
	in_ns "$NS_S" iptables -w 5 -L KK_INPUT -n -v -x | awk '$3 == "KK_KNOCKLOG" { n += $1 } END { print n + 0 }'
}

# start_flood sends garbage SYNs from the attacker to the knock port, one
# every 50 µs (about 10,000-14,000/s here; FLOOD_INTERVAL_US changes it).
start_flood() {
	ip netns exec "$NS_A" timeout "$1" hping3 -q -S -p "$KNOCK_PORT" -i "u${FLOOD_INTERVAL_US:-50}" "$SERVER_IP" \
		>/dev/null 2>&1 &
	echo $! >"$T/pid/flood.pid"
	disown $!
}

# flood_knocks N BASE [WAIT] knocks N times, each for its own port BASE+i,
# pacing them under the per-source LOG limit, and sets FLOOD_OK to how many
# opened within WAIT seconds (default 3) each.
flood_knocks() {
	local n=$1 base=$2 wait=${3:-3} i ok=0 t0
	for i in $(seq "$n"); do
		t0=$(now)
		knock $((base + i)) >/dev/null 2>&1 && wait_until "$wait" rule_present "$CLIENT_IP" $((base + i)) && ok=$((ok + 1))
		# At most 8 knocks/s: under knockknock-firewall.sh's 10/s per source.
		sleep "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { d = 0.125 - (b - a); print (d > 0 ? d : 0) }')"
	done
	FLOOD_OK=$ok
}

# chk_flood: while the attacker floods the knock port at >= 5,000 SYN/s, 100
# knocks from the client must open at least 99 times.
chk_flood() {
	local mon p0 p1 c0 c1 r0 r1 t0 t1 ok rate cpu rcpu hz lines0 lines1
	pid_alive monitor || { echo "kk-monitor is not running"; return 1; }
	mon=$(cat "$T/pid/monitor.pid")
	hz=$(getconf CLK_TCK)
	p0=$(knock_port_packets)
	c0=$(cpu_ticks "$mon")
	r0=$(cpu_ticks "$(cat "$T/pid/rsyslog.pid")")
	lines0=$(wc -l <"$T/log/kern.log")
	t0=$(now)
	start_flood 120
	sleep 1
	flood_knocks 100 20000
	ok=$FLOOD_OK
	stop_pid flood
	t1=$(now)
	p1=$(knock_port_packets)
	c1=$(cpu_ticks "$mon")
	r1=$(cpu_ticks "$(cat "$T/pid/rsyslog.pid")")
	lines1=$(wc -l <"$T/log/kern.log")
	rate=$(awk -v p=$((p1 - p0 - 100)) -v a="$t0" -v b="$t1" 'BEGIN { printf "%d", p / (b - a) }')
	cpu=$(awk -v c=$((c1 - c0)) -v hz="$hz" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", 100 * c / hz / (b - a) }')
	rcpu=$(awk -v c=$((r1 - r0)) -v hz="$hz" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", 100 * c / hz / (b - a) }')
	echo "$ok/100 knocks opened under a flood of $rate SYN/s ($((p1 - p0)) packets in $(ms "$t0" "$t1") ms);" \
		"kern.log grew $((lines1 - lines0)) lines; kk-monitor CPU $cpu%, rsyslogd CPU $rcpu%"
	[ "$ok" -ge 99 ] && [ "$rate" -ge 5000 ]
}

# chk_flood_control: the same flood against the seed's rules, where the knock
# port is logged only by the global --limit 3/s rule, must starve most knocks.
# This shows the flood is strong enough for chk_flood to mean something.
chk_flood_control() {
	local ok n=10
	in_ns "$NS_S" iptables -w 5 -F KK_INPUT
	in_ns "$NS_S" iptables -w 5 -A KK_INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
	in_ns "$NS_S" iptables -w 5 -A KK_INPUT -j KK_REJECTLOG
	start_flood 60
	sleep 1
	flood_knocks "$n" 21000 1
	ok=$FLOOD_OK
	stop_pid flood
	load_firewall
	echo "with the seed's single global 3/s LOG limit, $ok/$n knocks opened"
	[ "$ok" -le $((n / 2)) ]
}
