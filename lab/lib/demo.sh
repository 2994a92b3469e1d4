# demo.sh: `make demo`, the newcomer's tour. Sourced by lab.sh.

# show_new FILE FROM [PATTERN] prints lines of FILE after line FROM (matching PATTERN).
show_new() {
	tail -n +$(($2 + 1)) "$1" | grep -E -- "${3:-.}" | tail -3 |
		sed -E 's/ MAC=[^ ]+//; s/ (TOS|PREC|TTL|RES|URGP|TC|HOPLIMIT)=[^ ]+//g; s/:0000(:0000)+:/::/g' | cut -c1-240 | sed 's/^/   | /' || true
}

demo_build() {
	step "1. Build a small network in namespaces"
	explain "Three network namespaces stand in for three machines: a server ($SERVER_IP), a client" \
		"($CLIENT_IP) and an attacker ($ATTACKER_IP), joined by a bridge in the server namespace." \
		"Every iptables command below runs inside the server namespace: this machine's own firewall" \
		"is never touched."
	setup_user
	setup_namespaces
	enable_netns_logging
	info "namespaces $NS_S, $NS_C, $NS_A; net.netfilter.nf_log_all_netns=1 so LOG works in them"
	start_service
	info "a small HTTP service listens on the server's port $SERVICE_PORT: the port we want to protect"

	step "2. Create a profile and load the server firewall (firewall/knockknock-firewall.sh)"
	explain "A profile holds two keys, a counter and a knock port. The server keeps it; the client" \
		"gets a copy, as with scp. The firewall rejects every new connection and logs it to the" \
		"kernel log with the TCP sequence numbers. The profile's knock port, $KNOCK_PORT, gets its" \
		"own LOG rule, limited per source address, so a flood from one address cannot drown anybody" \
		"else's knocks."
	make_profile
	info "\$ kk-monitor genprofile $KNOCK_PORT lab   (then copied to the client's ~/.knockknock/$SERVER_IP/)"
	load_firewall
	in_ns "$NS_S" iptables -S KK_INPUT | sed 's/^/   | /'

	step "3. Start the server side: rsyslogd, kk-firewall, kk-monitor"
	explain "An rsyslogd of the lab's own writes the kernel's messages to a kern.log in a temp" \
		"directory. kk-firewall is the only root part; it gets its unix socket from" \
		"systemd-socket-activate, exactly as from kk-firewall.socket. kk-monitor runs as the" \
		"unprivileged user $LAB_USER with no capabilities: it reads kern.log and asks kk-firewall, over" \
		"gRPC, to open ports."
	start_rsyslog
	write_config
	start_firewall
	start_monitor
	info "kern.log: $T/log/kern.log    socket: $SOCK"
}

demo_knock() {
	local from
	step "4. Before knocking, the service is unreachable"
	explain "The client tries the protected port. The firewall refuses with a TCP reset and logs it."
	check "before the knock, the client cannot connect" chk_before_knock

	step "5. Knock: one TCP SYN whose header fields carry an encrypted request"
	explain "kk-client encrypts 'open port $SERVICE_PORT' into the SYN's IP ID, TCP SEQ, ACK and WINDOW" \
		"(12 bytes) and sends it to the knock port. The server rejects it like any other packet, but" \
		"the kernel's LOG line carries those four fields to kern.log, where kk-monitor verifies them."
	info "\$ kk-client -p $SERVICE_PORT -s $SERVER_IP -d ~/.knockknock/$SERVER_IP"
	from=$(wc -l <"$T/log/kern.log")
	local mfrom ffrom
	mfrom=$(wc -l <"$T/log/kk-monitor.log")
	ffrom=$(wc -l <"$T/log/kk-firewall.log")
	check "kk-client knock opens the port for the client" chk_knock_opens
	info "kern.log (written by the lab's rsyslogd):"
	show_new "$T/log/kern.log" "$from" "DPT=$KNOCK_PORT "
	info "kk-monitor:"
	show_new "$T/log/kk-monitor.log" "$mfrom"
	info "kk-firewall:"
	show_new "$T/log/kk-firewall.log" "$ffrom"
	info "the rule kk-firewall added (one NEW connection, kernel-enforced deadline):"
	in_ns "$NS_S" iptables -S KNOCKKNOCK | grep -- '-s ' | sed 's/^/   | /' || true
	check "kk-firewall was socket-activated" chk_activated
	check "kk-monitor runs unprivileged" chk_monitor_unprivileged
}

demo_after() {
	step "6. Only the knocker gets in"
	explain "The rule names the client's address, so the attacker on the same link is still refused."
	check "the attacker still cannot connect" chk_attacker_refused
	step "7. The opening closes by itself"
	explain "After delay ($DELAY s here, 15 s by default) kk-firewall deletes the rule. Even if it" \
		"were dead, the rule's -m time --datestop would stop matching at the deadline."
	check "after delay the rule is gone and a new connection fails" chk_expires
	step "8. A captured knock cannot be replayed"
	explain "An eavesdropper copies the four fields from the logged knock and sends them again with" \
		"hping3. Every knock uses a fresh counter, so kk-monitor refuses a counter it has seen."
	check "replay of the knock's 4 header fields from the attacker opens nothing" chk_replay "$NS_A" "$ATTACKER_IP"
	demo_ipv6
	step "10. The knock-aware SOCKS5 proxy"
	explain "kk-client proxy $PROXY_PORT listens on 127.0.0.1. For a host with a profile in" \
		"~/.knockknock/ it knocks first, then connects, so any SOCKS-capable program just works." \
		"Only its owner may use it: the user name and password are in ~/.knockknock/proxy-credentials."
	start_proxy
	info "\$ curl --socks5 \"\$(cat ~/.knockknock/proxy-credentials)@127.0.0.1:$PROXY_PORT\" http://$SERVER_IP:$SERVICE_PORT/"
	check "kk-client proxy knocks and a SOCKS5 connection reaches the service" chk_proxy
}

# chk_ipv6_demo: refused over IPv6, kk-client -6 knocks with the same
# profile, an ip6tables rule names the client's IPv6 address and an IPv6
# connection gets through (chk_ipv6's pieces; make test also checks expiry).
chk_ipv6_demo() {
	if connect6 "$NS_C"; then echo "connected over IPv6 before any knock"; return 1; fi
	in_ns "$NS_C" env HOME="$T/client/home" "$BIN/kk-client" -6 -p "$SERVICE_PORT" -s "$SERVER_IP6" -d "$CLIENT_PROFILE" >/dev/null ||
		{ echo "kk-client -6 failed"; return 1; }
	wait_until 5 rule6_present "$CLIENT_IP6" || { echo "no ip6tables rule within 5 s"; return 1; }
	connect6 "$NS_C" || { echo "rule present but the IPv6 connection failed"; return 1; }
	echo "refused before, ip6tables rule after the knock, service reached over IPv6"
}

demo_ipv6() {
	local from
	step "9. The same knock over IPv6"
	explain "IPv6 has no IP ID, so kk-client -6 puts those 2 bytes in the low 16 bits of the flow" \
		"label; the kernel logs it as FLOWLBL=. The profile is the same one: kk-firewall opens the" \
		"port with ip6tables, for the client's IPv6 address ($CLIENT_IP6) only."
	info "\$ kk-client -6 -p $SERVICE_PORT -s $SERVER_IP6 -d ~/.knockknock/$SERVER_IP"
	from=$(wc -l <"$T/log/kern.log")
	check "IPv6: kk-client -6 with the same profile opens the port and an IPv6 connection gets through" chk_ipv6_demo
	info "kern.log:"
	show_new "$T/log/kern.log" "$from" "FLOWLBL=.*DPT=$KNOCK_PORT "
	info "the ip6tables rule kk-firewall added:"
	in_ns "$NS_S" ip6tables -S KNOCKKNOCK | grep -- '-s ' | sed 's/^/   | /' || true
}

run_demo() {
	printf 'kk demo: single-packet port knocking, end to end, in network namespaces (about 15 seconds)\n'
	demo_build
	demo_knock
	demo_after
	check "the host's own firewall rules were not touched" chk_host_untouched
	step "Done"
	printf '   %d checks passed, %d failed. Next: make test (every check, including floods and crashes),\n' \
		"$PASSED" "$FAILED"
	printf '   make bench (latency), README for installing on a real server.\n'
	[ "$FAILED" -eq 0 ]
}
