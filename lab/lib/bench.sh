# bench.sh: `make bench`'s lab part. Knock -> rule present, over 50 knocks
# through the real path, split into where the time goes. Sourced by lab.sh.
#
# Timestamps used, per knock (each knock asks for its own port, so every
# line can be matched to its knock):
#   t0  just before kk-client starts                      (this script)
#   t1  rsyslogd received the kernel's LOG line           (kern.log, %timegenerated%, µs)
#   t2  kk-firewall logged "opened", after iptables ran   (its slog line, ms)
#   t3  kk-monitor logged "knock accepted", reply in hand (its slog line, ms)
#   t4  the first `iptables -S` poll that shows the rule  (this script; ~5 ms per poll)

# epoch TS prints an RFC3339 timestamp as seconds since the epoch.
epoch() { date -d "$1" +%s.%6N; }

# slog_time FILE MSG PORT prints the time= of the first slog line in FILE
# with message MSG and port=PORT.
slog_time() {
	grep -E "msg=\"?$2\"? .*port=$3( |$)" "$1" | head -1 | sed -nE 's/^time=([^ ]+) .*/\1/p'
}

# bench_knocks N BASE knocks N times (ports BASE+1..BASE+N), paced under the
# per-source LOG limit, and records "port t0 t4" lines in $T/bench/sends.
bench_knocks() {
	local i port t0 t4
	for i in $(seq "$1"); do
		port=$(($2 + i))
		t0=$(now)
		knock "$port" >/dev/null 2>&1 || { echo "kk-client failed for port $port" >&2; continue; }
		wait_until 3 rule_present "$CLIENT_IP" "$port" || { echo "no rule for port $port within 3 s" >&2; continue; }
		t4=$(now)
		echo "$port $t0 $t4" >>"$T/bench/sends"
		sleep "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { d = 0.125 - (b - a); print (d > 0 ? d : 0) }')"
	done
}

# bench_split KFROM turns the timestamps into per-knock durations (ms):
# total, log, monitor+helper, reply, poll; one line per knock in $T/bench/rows.
bench_split() {
	local port t0 t4 t1 t2 t3 n=0
	mapfile -t klines < <(tail -n +$(($1 + 1)) "$T/log/kern.log" |
		grep -E "SRC=$CLIENT_IP .*DPT=$KNOCK_PORT .* SYN " | awk '{ print $1 }')
	: >"$T/bench/rows"
	while read -r port t0 t4; do
		t1=$(epoch "${klines[$n]:-}" 2>/dev/null) || t1=
		n=$((n + 1))
		t2=$(slog_time "$T/log/kk-firewall.log" opened "$port")
		t3=$(slog_time "$T/log/kk-monitor.log" "knock accepted" "$port")
		[ -n "$t1" ] && [ -n "$t2" ] && [ -n "$t3" ] || { echo "port $port: missing a timestamp" >&2; continue; }
		t2=$(epoch "$t2")
		t3=$(epoch "$t3")
		echo "$(ms "$t0" "$t2") $(ms "$t0" "$t1") $(ms "$t1" "$t2") $(ms "$t2" "$t3") $(ms "$t0" "$t4")" >>"$T/bench/rows"
	done <"$T/bench/sends"
}

# bench_row NAME COLUMN prints p50, p99 and max of one column of the rows.
bench_row() {
	awk -v c="$2" '{ print $c }' "$T/bench/rows" >"$T/bench/col"
	printf '  %-58s %6s %6s %6s\n' "$1" "$(percentile 50 "$T/bench/col")" \
		"$(percentile 99 "$T/bench/col")" "$(percentile 100 "$T/bench/col")"
}

run_bench() {
	local n=${KK_BENCH_KNOCKS:-50} kfrom
	mkdir -p "$T/bench"
	step "bench: knock -> rule present over $n knocks (kk-client, kernel LOG, rsyslogd, kk-monitor, kk-firewall, iptables)"
	kfrom=$(wc -l <"$T/log/kern.log")
	bench_knocks "$n" 30000
	bench_split "$kfrom"
	local got
	got=$(wc -l <"$T/bench/rows")
	printf '  %-58s %6s %6s %6s\n' "$got/$n knocks measured, in ms" p50 p99 max
	bench_row "knock -> rule inserted (kk-client start -> kk-firewall)" 1
	bench_row "  log write (kk-client start -> rsyslogd has the line)" 2
	bench_row "  monitor + helper (rsyslogd -> rule inserted)" 3
	bench_row "reply (rule inserted -> kk-monitor has the answer)" 4
	bench_row "knock -> rule seen by an iptables -S poll" 5
	info "iptables $(iptables -V | awk '{ print $2, $3 }'); CPUs: $(nproc)"
	[ "$got" -eq "$n" ]
}
