# steal.sh: an on-path attacker steals a knock. The client's SYN is logged
# and dropped on its way out, as a router the attacker controls would, and
# the attacker sends the same four header fields from its own address.

# chk_steal VERSION: with the lab profile switched to VERSION on both sides
# (counter kept), the stolen knock opens the service for the attacker (1:
# v1's documented limit) or nothing (2); with 2 the owner's own copy of the
# knock, arriving late, still opens it for the owner.
chk_steal() {
	local version=$1 cfg=$T/etc/profiles/lab/config ccfg=$CLIENT_PROFILE/config saved csaved rc=0
	saved=$(cat "$cfg")
	csaved=$(cat "$ccfg")
	if [ "$version" = 2 ]; then
		printf 'version = 2\n' >>"$cfg"
		printf 'version = 2\n' >>"$ccfg"
	fi
	if reload_monitor; then
		steal "$version" || rc=$?
	else
		echo "kk-monitor did not reload with version = $version"
		rc=1
	fi
	printf '%s\n' "$saved" >"$cfg"
	printf '%s\n' "$csaved" >"$ccfg"
	reload_monitor || { echo "kk-monitor did not reload with the profile put back"; rc=1; }
	return $rc
}

# stolen_fields sends a knock from the client and prints the ID, SEQ, ACK
# and WINDOW of the SYN, which the client's own firewall logged and dropped.
stolen_fields() {
	local prefix="kkstolen$$ " rule=(-p tcp -d "$SERVER_IP" --dport "$KNOCK_PORT")
	in_ns "$NS_C" iptables -w 5 -I OUTPUT "${rule[@]}" -j DROP
	in_ns "$NS_C" iptables -w 5 -I OUTPUT "${rule[@]}" -j LOG --log-prefix "$prefix" --log-tcp-sequence
	# The DROP makes the client's send fail (EPERM) after the LOG: expected.
	knock "$SERVICE_PORT" >/dev/null 2>&1 || true
	wait_until 5 grep -q "$prefix" "$T/log/kern.log" || echo "the dropped knock was never logged" >&2
	in_ns "$NS_C" iptables -w 5 -D OUTPUT "${rule[@]}" -j LOG --log-prefix "$prefix" --log-tcp-sequence
	in_ns "$NS_C" iptables -w 5 -D OUTPUT "${rule[@]}" -j DROP
	grep "$prefix" "$T/log/kern.log" | tail -1 |
		sed -nE 's/.* ID=([0-9]+) .* SEQ=([0-9]+) ACK=([0-9]+) WINDOW=([0-9]+) .*/\1 \2 \3 \4/p'
}

# send_fields NS ID SEQ ACK WIN sends a SYN carrying those fields from NS.
send_fields() {
	in_ns "$1" timeout 10 hping3 -q -S -c 1 -p "$KNOCK_PORT" -N "$2" -M "$3" -L "$4" -w "$5" "$SERVER_IP" >/dev/null 2>&1
}

steal() {
	local version=$1 fields id seq ack win
	wait_until $((DELAY + 3)) rule_absent "$CLIENT_IP" "$SERVICE_PORT" || { echo "an earlier opening never expired"; return 1; }
	fields=$(stolen_fields)
	[ -n "$fields" ] || { echo "no stolen knock"; return 1; }
	read -r id seq ack win <<<"$fields"
	send_fields "$NS_A" "$id" "$seq" "$ack" "$win"
	if [ "$version" = 1 ]; then
		wait_until 5 rule_present "$ATTACKER_IP" "$SERVICE_PORT" ||
			{ echo "v1: the stolen knock did not open the port for the attacker (the limit this check documents)"; return 1; }
		connect "$NS_A" || { echo "v1: rule for the attacker, but its connection failed"; return 1; }
		wait_until $((DELAY + 3)) rule_absent "$ATTACKER_IP" "$SERVICE_PORT" || { echo "the attacker's opening never expired"; return 1; }
		echo "v1: the stolen knock (ID=$id SEQ=$seq) opened the service for the attacker $ATTACKER_IP"
		return 0
	fi
	sleep 1.5
	if rule_present "$ATTACKER_IP" "$SERVICE_PORT" || connect "$NS_A"; then
		echo "v2: the stolen knock opened the port for the attacker"
		return 1
	fi
	send_fields "$NS_C" "$id" "$seq" "$ack" "$win"
	wait_until 5 rule_present "$CLIENT_IP" "$SERVICE_PORT" || { echo "v2: the owner's own late knock did not open the port"; return 1; }
	connect "$NS_C" || { echo "v2: rule for the owner, but the connection failed"; return 1; }
	wait_until $((DELAY + 3)) rule_absent "$CLIENT_IP" "$SERVICE_PORT" || { echo "the owner's opening never expired"; return 1; }
	echo "v2: the stolen knock (ID=$id SEQ=$seq) from $ATTACKER_IP opened nothing; the same fields from the owner $CLIENT_IP did"
}
