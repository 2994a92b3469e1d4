# bench.sh: `make bench`'s lab part. Knock -> rule present, over 50 knocks
# through the real path, split into where the time goes. Sourced by lab.sh.
#
# Timestamps used, per knock (each knock asks for its own port, so every
# line can be matched to its knock):
#   t0  just before kk-client starts                      (this script)
#   t1  the LOG line is readable in kern.log              (tail -F with inotify, stamped here)
#   tx  kk-firewall execs iptables to add the rule        (a PATH wrapper, bench only)
#   t2  kk-firewall logged "opened", after iptables ran   (its slog line, ms)
#   t3  kk-monitor logged "knock accepted", reply in hand (its slog line, ms)
#   t4  the first `iptables -S` poll that shows the rule  (this script; ~5 ms per poll)

# start_stamper stamps each new kern.log line with the time it became
# readable, as a follower such as kk-monitor sees it. (rsyslogd's own
# timestamps for imkmsg messages derive from the kernel's monotonic clock and
# can be off from the wall clock by a large fraction of a second.)
start_stamper() {
	mkfifo "$T/bench/fifo"
	tail -n 0 -F "$T/log/kern.log" >"$T/bench/fifo" 2>/dev/null &
	echo $! >"$T/pid/stamper-tail.pid"
	disown $!
	while IFS= read -r line; do printf '%s %s\n' "$EPOCHREALTIME" "$line"; done \
		<"$T/bench/fifo" >"$T/bench/stamped" &
	echo $! >"$T/pid/stamper.pid"
	disown $!
	sleep 0.5
}

# wrap_iptables makes kk-firewall, in bench mode, find first in PATH an
# iptables wrapper that stamps each call and execs the real one. That marks
# when the helper starts its real work, splitting monitor from helper. The
# wrapper adds about 2 ms of bash to the helper (and total) figures.
wrap_iptables() {
	local real
	real=$(command -v iptables)
	mkdir -p "$T/wrap" "$T/bench"
	cat >"$T/wrap/iptables" <<EOF
#!/bin/bash
printf '%s %s\n' "\$EPOCHREALTIME" "\$*" >>"$T/bench/iptables.calls"
exec "$real" "\$@"
EOF
	chmod 0755 "$T/wrap/iptables"
	FW_PATH=$T/wrap:$PATH
}

# exec_time PORT prints when kk-firewall exec'd iptables to append PORT's rule.
exec_time() {
	grep -E -- "-A KNOCKKNOCK .*--dport $1( |$)" "$T/bench/iptables.calls" 2>/dev/null | head -1 | awk '{ print $1 }' || true
}

# epoch TS prints an RFC3339 timestamp as seconds since the epoch.
epoch() { date -d "$1" +%s.%6N; }

# slog_time FILE MSG PORT prints the time= of the first slog line in FILE
# with message MSG and port=PORT.
slog_time() {
	grep -E "msg=\"?$2\"? .*port=$3( |$)" "$1" | head -1 | sed -nE 's/^time=([^ ]+) .*/\1/p' || true
}

# bench_knocks N BASE knocks N times (ports BASE+1..BASE+N), paced under the
# per-source LOG limit, and records "port t0 t4 te" lines in $T/bench/sends
# (te: kk-client has exited).
bench_knocks() {
	local i port t0 te t4
	for i in $(seq "$1"); do
		port=$(($2 + i))
		t0=$(now)
		knock "$port" >/dev/null 2>&1 || { echo "kk-client failed for port $port" >&2; continue; }
		te=$(now)
		wait_until 3 rule_present "$CLIENT_IP" "$port" || { echo "no rule for port $port within 3 s" >&2; continue; }
		t4=$(now)
		echo "$port $t0 $t4 $te" >>"$T/bench/sends"
		sleep "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { d = 0.125 - (b - a); print (d > 0 ? d : 0) }')"
	done
}

# bench_split FROM turns the timestamps (kern.log lines stamped after line
# FROM) into one line of durations in ms per knock in $T/bench/rows:
#   1 total t0-t2  2 log t0-t1  3 monitor+helper t1-t2  4 reply t2-t3
#   5 poll t0-t4   6 monitor t1-tx  7 kk-client t0-te  8 helper tx-t2
bench_split() {
	local port t0 t4 te t1 t2 t3 tx n=0
	mapfile -t klines < <(tail -n +$(($1 + 1)) "$T/bench/stamped" | grep -E "SRC=$CLIENT_IP .*DPT=$KNOCK_PORT .* SYN " |
		awk '{ print $1 }')
	: >"$T/bench/rows"
	while read -r port t0 t4 te; do
		# This knock's line is the first one readable after it was sent.
		while [ "$n" -lt "${#klines[@]}" ] && awk -v k="${klines[$n]}" -v t="$t0" 'BEGIN { exit !(k < t) }'; do
			n=$((n + 1))
		done
		t1=${klines[$n]:-}
		n=$((n + 1))
		t2=$(slog_time "$T/log/kk-firewall.log" opened "$port")
		t3=$(slog_time "$T/log/kk-monitor.log" "knock accepted" "$port")
		[ -n "$t1" ] && [ -n "$t2" ] && [ -n "$t3" ] || { echo "port $port: missing a timestamp" >&2; continue; }
		t2=$(epoch "$t2")
		t3=$(epoch "$t3")
		tx=$(exec_time "$port")
		[ -n "$tx" ] || tx=$t2
		echo "$(ms "$t0" "$t2") $(ms "$t0" "$t1") $(ms "$t1" "$t2") $(ms "$t2" "$t3") $(ms "$t0" "$t4") $(ms "$t1" "$tx") $(ms "$t0" "$te") $(ms "$tx" "$t2")" >>"$T/bench/rows"
	done <"$T/bench/sends"
}

# bench_row NAME COLUMN prints p50, p99 and max of one column of the rows.
bench_row() {
	awk -v c="$2" '{ print $c }' "$T/bench/rows" >"$T/bench/col"
	printf '  %-62s %6s %6s %6s\n' "$1" "$(percentile 50 "$T/bench/col")" \
		"$(percentile 99 "$T/bench/col")" "$(percentile 100 "$T/bench/col")"
}

run_bench() {
	local n=${KK_BENCH_KNOCKS:-50}
	mkdir -p "$T/bench"
	start_stamper
	# The first knock also pays for socket activation (exec of kk-firewall)
	# and the monitor's first gRPC connection: measured apart.
	bench_knocks 1 29000
	mv "$T/bench/sends" "$T/bench/cold"
	sleep 0.2
	local from
	from=$(wc -l <"$T/bench/stamped")
	step "bench: knock -> rule present over $n knocks (kk-client, kernel LOG, rsyslogd, kk-monitor, kk-firewall, iptables)"
	bench_knocks "$n" 30000
	bench_split "$from"
	local got
	got=$(wc -l <"$T/bench/rows")
	printf '  %-62s %6s %6s %6s\n' "$got/$n knocks measured, in ms" p50 p99 max
	bench_row "knock -> rule inserted (kk-client start -> kk-firewall)" 1
	bench_row "  log write (kk-client start -> line readable in kern.log)" 2
	bench_row "    of which kk-client runs (start -> exit)" 7
	bench_row "  monitor + helper (line in kern.log -> rule inserted)" 3
	bench_row "    monitor (line in kern.log -> kk-firewall execs iptables)" 6
	bench_row "    helper (exec of iptables -> rule in, \"opened\" logged)*" 8
	bench_row "reply (rule inserted -> kk-monitor has the answer)" 4
	bench_row "knock -> rule seen by an iptables -S poll" 5
	info "* the stamping iptables wrapper adds about 2 ms here, and so to the totals above"
	info "first knock, with socket activation: $(awk '{ printf "%d", ($3 - $2) * 1000 }' "$T/bench/cold") ms to the rule poll (not in the figures above)"
	info "iptables $(iptables -V | awk '{ print $2, $3 }'); CPUs: $(nproc)"
	[ "$got" -eq "$n" ]
}

# bench_spoofed_flood measures what the per-source limit cannot stop: a flood
# from random (spoofed) source addresses, where every garbage SYN gets its own
# hashlimit bucket and so its own LOG line. Informational: it prints how many
# knocks still opened and what the flood cost kk-monitor and rsyslogd.
bench_spoofed_flood() {
	local n=20 mon rs c0 c1 r0 r1 l0 l1 t0 t1 hz
	step "bench: a flood from spoofed random sources (the per-source limit does not help here)"
	mon=$(cat "$T/pid/monitor.pid")
	rs=$(cat "$T/pid/rsyslog.pid")
	hz=$(getconf CLK_TCK)
	c0=$(cpu_ticks "$mon")
	r0=$(cpu_ticks "$rs")
	l0=$(wc -l <"$T/log/kern.log")
	t0=$(now)
	ip netns exec "$NS_A" timeout 60 hping3 -q -S -p "$KNOCK_PORT" -i u50 --rand-source "$SERVER_IP" >/dev/null 2>&1 &
	echo $! >"$T/pid/flood.pid"
	disown $!
	sleep 1
	flood_knocks "$n" 40000 2
	stop_pid flood
	t1=$(now)
	c1=$(cpu_ticks "$mon")
	r1=$(cpu_ticks "$rs")
	l1=$(wc -l <"$T/log/kern.log")
	awk -v ok="$FLOOD_OK" -v n="$n" -v l=$((l1 - l0)) -v c=$((c1 - c0)) -v r=$((r1 - r0)) -v hz="$hz" -v a="$t0" -v b="$t1" 'BEGIN {
		d = b - a
		printf "  %d/%d knocks opened; kern.log took %d lines/s; CPU: kk-monitor %.1f%%, rsyslogd %.1f%%\n",
			ok, n, l / d, 100 * c / hz / d, 100 * r / hz / d }'
}

# bench_client_start measures client start -> knock packet on the wire for
# kk-client and two anchors run in the same loop, interleaved: knockd's
# `knock` (one TCP SYN) and fwknop's client (one UDP SPA packet), all sending
# from the client namespace to the server namespace. lab/tools/startbench
# stamps t0 just before each client's fork+exec and t1 with the kernel's
# receive timestamp of the packet on an AF_PACKET socket in the server
# namespace. "kk-client -h" (exec, Go runtime start, flag parsing, exit)
# is the part of kk-client's time no knock code runs in.
bench_client_start() {
	local n=${KK_BENCH_KNOCKS:-50} keys rkey hkey
	need knock knockd
	need fwknop fwknop-client
	step "bench: client start -> knock on the wire over $n rounds (kk-client, knockd's knock, fwknop), interleaved"
	(cd "$TOP" && PATH=$PATH:/usr/local/go/bin CGO_ENABLED=0 go build -trimpath -o "$T/bin/startbench" ./lab/tools/startbench) ||
		die "building lab/tools/startbench failed"
	mkdir -p "$T/fwknop"
	keys=$(HOME=$T/fwknop fwknop --key-gen)
	rkey=$(sed -n 's/^KEY_BASE64: *//p' <<<"$keys")
	hkey=$(sed -n 's/^HMAC_KEY_BASE64: *//p' <<<"$keys")
	install -m 0600 /dev/null "$T/fwknop/rc"
	# The knocks ask for port 31000, which no other bench step uses.
	in_ns "$NS_C" env HOME="$T/client/home" "$T/bin/startbench" -netns "/run/netns/$NS_S" -dst "$SERVER_IP" -n "$n" \
		-c "kk-client $(printf 'tcp %s %s -p 31000 -s %s -d %s' "$KNOCK_PORT" "$BIN/kk-client" "$SERVER_IP" "$CLIENT_PROFILE")" \
		-c "knock(knockd) tcp 7000 $(command -v knock) $SERVER_IP 7000" \
		-c "fwknop(fwknop-client) udp 62201 $(command -v fwknop) -A tcp/31000 -a $CLIENT_IP -D $SERVER_IP --use-hmac --key-base64-rijndael $rkey --key-base64-hmac $hkey --no-save-args --rc-file $T/fwknop/rc" \
		-c "kk-client_-h_(exec,_Go_runtime_start,_exit) exit 0 $BIN/kk-client -h" >"$T/bench/start.out" ||
		{ cat "$T/bench/start.out"; die "startbench failed"; }
	cat "$T/bench/start.out"
	info "p50/p99/max: start (just before fork+exec) -> the SYN/UDP packet's kernel receive timestamp in the server namespace;"
	info "exit50/exit99: start -> the client has exited. kk-client's split by phase: the Benchmark*Phase lines of go test -bench ./pkg/syn"
}
