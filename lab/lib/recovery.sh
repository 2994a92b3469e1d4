# recovery.sh: the lab's counter-recovery check. Sourced by lab.sh.
#
# The lab's profile lists no allowed_ports, since the flood and the bench
# knock for hundreds of ports; this check gives it allowed_ports for its
# duration, as an admin would, and takes it away again.

# reload_monitor sends kk-monitor SIGHUP and waits for it to load again.
reload_monitor() {
	local n
	n=$(grep -c 'msg="configuration loaded"' "$T/log/kk-monitor.log" || true)
	kill -HUP "$(cat "$T/pid/monitor.pid")"
	wait_until 5 bash -c "[ \$(grep -c 'msg=\"configuration loaded\"' '$T/log/kk-monitor.log') -gt $n ]"
}

# chk_counter_gap: with allowed_ports = the service port, a client whose
# counter is 10,000 past the server's (knocks lost to a flood or a runaway
# proxy) gets in with its next knock; then the same knock resent, and a
# knock with a counter the gap skipped, open nothing.
chk_counter_gap() {
	local cfg=$T/etc/profiles/lab/config saved rc=0
	saved=$(cat "$cfg")
	printf 'allowed_ports = %s\n' "$SERVICE_PORT" >>"$cfg"
	if reload_monitor; then
		counter_gap || rc=$?
	else
		echo "kk-monitor did not reload after allowed_ports was added"
		rc=1
	fi
	printf '%s\n' "$saved" >"$cfg"
	reload_monitor || { echo "kk-monitor did not reload after allowed_ports was removed"; rc=1; }
	# After a failure the client may be far ahead: put it back in step so
	# the checks after this one test what they name.
	[ "$rc" -eq 0 ] || server_counter >"$CLIENT_PROFILE/counter"
	return $rc
}

counter_gap() {
	local cc=$CLIENT_PROFILE/counter s0 c1 s1 detail
	wait_until $((DELAY + 3)) rule_absent "$CLIENT_IP" "$SERVICE_PORT" || { echo "an earlier opening never expired"; return 1; }
	s0=$(server_counter) || return 1
	c1=$(($(cat "$cc") + 10000))
	echo "$c1" >"$cc"
	knock "$SERVICE_PORT" >/dev/null || { echo "kk-client failed"; return 1; }
	wait_until 5 rule_present "$CLIENT_IP" "$SERVICE_PORT" || { echo "no rule within 5 s for a knock 10,000 ahead (server $s0, client $c1)"; return 1; }
	connect "$NS_C" || { echo "the rule is there but the connection failed"; return 1; }
	s1=$(server_counter) || return 1
	[ "$s1" -gt "$c1" ] || { echo "server counter $s1, want past $c1"; return 1; }
	wait_until $((DELAY + 3)) rule_absent "$CLIENT_IP" "$SERVICE_PORT" || { echo "the opening never expired"; return 1; }
	detail=$(chk_replay "$NS_C" "$CLIENT_IP") || { echo "replay after the gap: $detail"; return 1; }
	# A counter inside the gap, never sent, is below the server's now.
	echo $((s0 + 5000)) >"$cc"
	knock "$SERVICE_PORT" >/dev/null || { echo "kk-client failed"; return 1; }
	sleep 1.5
	echo "$s1" >"$cc"
	if rule_present "$CLIENT_IP" "$SERVICE_PORT"; then echo "a counter skipped by the gap opened the port"; return 1; fi
	echo "server counter $s0 -> $s1 after a knock with counter $c1; its replay and counter $((s0 + 5000)) refused"
}
