# bench.sh: `make bench`'s lab part. SYN on the wire -> ACCEPT rule, over 50
# knocks through the real path (kernel LOG, the lab's rsyslogd, kk-monitor,
# gRPC, kk-firewall, iptables), split into where the time goes; with the
# anchors knockd 0.8 and fwknopd 2.6.10 (Debian's packages, lab/deps.sh
# bench) knocked in the same run, interleaved, on the same namespaces, their
# rules timestamped the same way. Then a flood of spoofed SYNs at the knock
# port. Sourced by lab.sh.
#
# lab/tools/kkwatch, in the server namespace, stamps on one clock:
#   wire  the knock's SYN (fwknop: its UDP packet) arriving on br0   (SO_TIMESTAMPNS)
#   kmsg  its LOG line readable in /dev/kmsg: the kernel has woken its log
#         readers, rsyslogd's imkmsg or imklog among them       (blocking read)
#   kern  its LOG line readable in kern.log                          (inotify)
#   mon   kk-monitor's "knock accepted" line, with its own durations (inotify)
#         handoff= (line parsed -> taken by the knock worker), verify=
#         (-> counter matched), counter= (-> on disk),
#         open= (-> kk-firewall's answer, i.e. gRPC + helper)
#   fw    kk-firewall's "opened" line, with took= (request in -> answer)
#   rule  nf_tables committing the new rule: the NFNLGRP_NFTABLES
#         multicast that `nft monitor` reads
# The kernel wakes log readers at the next timer tick, not at once (printk's
# wake_up_klogd_work is a lazy irq_work): kmsg - wire is 0 to 1/HZ, 2 ms
# on average at Debian's HZ=250, whatever the logger; kern - kmsg is
# rsyslogd's own share. From these: wake = (mon - its durations) - kern,
# i.e. inotify's wake-up, the read and the parse; gRPC = open - took; took
# is split at the rule's commit. lib/bench_split.awk does the arithmetic.

KNOCKD_LAST=7003
FWKNOP_PORT=62201

# start_watch runs kkwatch in the server namespace, writing $T/bench/events.
start_watch() {
	local i
	: >"$T/bench/events"
	ip netns exec "$NS_S" "$BIN/kkwatch" -kmsg -iface br0 -ports "$KNOCK_PORT,$KNOCKD_LAST,$FWKNOP_PORT" \
		-file "kern=$T/log/kern.log" -file "mon=$T/log/kk-monitor.log" -file "fw=$T/log/kk-firewall.log" \
		>"$T/bench/events" 2>"$T/bench/kkwatch.err" &
	echo $! >"$T/pid/kkwatch.pid"
	disown $!
	for i in $(seq 50); do
		grep -q ready "$T/bench/kkwatch.err" && return 0
		pid_alive kkwatch || break
		sleep 0.1
	done
	die "kkwatch did not start: $(cat "$T/bench/kkwatch.err")"
}

# mark KIND [WORDS] records, on the events' clock, that the bench is about
# to send KIND's knock; the events up to the next mark belong to it.
mark() { printf '%s mark %s\n' "$EPOCHREALTIME" "$*" >>"$T/bench/marks"; }

# pace T0 sleeps until T0 + 0.2 s: at most 5 knocks/s from the client, under
# knockknock-firewall.sh's 10/s LOG limit per source, and each knock's
# events are over before the next one starts.
pace() { sleep "$(awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { d = 0.2 - (b - a); print (d > 0 ? d : 0) }')"; }

# accepted PORT reports whether kk-monitor has logged the knock for PORT.
accepted() { grep -qE "msg=\"?knock accepted\"? .*port=$1( |$)" "$T/log/kk-monitor.log"; }

# kk_knock PORT knocks with kk-client and waits for kk-monitor's answer.
kk_knock() {
	local t0
	t0=$EPOCHREALTIME
	mark kk "$1"
	knock "$1" >/dev/null 2>&1 || echo "kk-client failed for port $1" >&2
	printf '%s exit kk\n' "$EPOCHREALTIME" >>"$T/bench/marks"
	wait_until 3 accepted "$1" || echo "kk: no knock accepted for port $1 within 3 s" >&2
	pace "$t0"
}

# kernel_hz prints the running kernel's CONFIG_HZ, or "?" if no config says.
kernel_hz() {
	local hz
	hz=$( { zcat /proc/config.gz 2>/dev/null || cat "/boot/config-$(uname -r)" 2>/dev/null; } | sed -n 's/^CONFIG_HZ=//p')
	echo "${hz:-?}"
}

# knockd_version prints the installed knockd package's upstream version.
knockd_version() { dpkg-query -W -f='${Version}' knockd 2>/dev/null | cut -d- -f1; }

# start_knockd runs knockd on the server's bridge with a 3-port sequence
# whose command appends an ACCEPT rule to a chain of its own.
start_knockd() {
	mkdir -p "$T/knockd"
	in_ns "$NS_S" iptables -w 5 -N KNOCKD
	cat >"$T/knockd/knockd.conf" <<EOF
[options]
	logfile = $T/log/knockd.log
	interface = br0
[bench]
	sequence = 7001,7002,$KNOCKD_LAST
	seq_timeout = 5
	tcpflags = syn
	command = /usr/sbin/iptables -w 5 -A KNOCKD -s %IP% -p tcp --dport $SERVICE_PORT -j ACCEPT
EOF
	ip netns exec "$NS_S" knockd -c "$T/knockd/knockd.conf" -i br0 >>"$T/log/knockd.out" 2>&1 &
	echo $! >"$T/pid/knockd.pid"
	disown $!
	sleep 0.5
	pid_alive knockd || die "knockd exited at start: $(tail -5 "$T/log/knockd.out" "$T/log/knockd.log" 2>/dev/null)"
}

# knockd_rules prints how many rules knockd has added.
knockd_rules() { in_ns "$NS_S" iptables -w 5 -S KNOCKD | grep -c '^-A' || true; }

# knockd_more N reports whether knockd has added more than N rules.
knockd_more() { [ "$(knockd_rules)" -gt "$1" ]; }

# knockd_knock sends knockd's sequence with its own client, knock(1), and
# waits for the rule.
knockd_knock() {
	local t0 n0
	t0=$EPOCHREALTIME
	n0=$(knockd_rules)
	mark knockd
	in_ns "$NS_C" knock "$SERVER_IP" 7001 7002 "$KNOCKD_LAST" >/dev/null 2>&1 || echo "knock(1) failed" >&2
	wait_until 3 knockd_more "$n0" || echo "knockd: no rule within 3 s" >&2
	pace "$t0"
}

# start_fwknopd runs fwknopd on the server's bridge with Debian's defaults
# but for the paths and keys; its jump goes to INPUT position 2 so that
# kk-firewall's stays first.
start_fwknopd() {
	local keys
	mkdir -p "$T/fwknop/run"
	chmod 0700 "$T/fwknop"
	keys=$(HOME="$T/fwknop" fwknop --key-gen)
	FWKNOP_KEY=$(awk '/^KEY_BASE64:/ { print $2 }' <<<"$keys")
	FWKNOP_HMAC=$(awk '/^HMAC_KEY_BASE64:/ { print $2 }' <<<"$keys")
	cat >"$T/fwknop/fwknopd.conf" <<EOF
PCAP_INTF br0;
IPT_INPUT_ACCESS ACCEPT, filter, INPUT, 2, FWKNOP_INPUT, 1;
EOF
	cat >"$T/fwknop/access.conf" <<EOF
SOURCE ANY
KEY_BASE64 $FWKNOP_KEY
HMAC_KEY_BASE64 $FWKNOP_HMAC
FW_ACCESS_TIMEOUT 60
EOF
	chmod 0600 "$T/fwknop/fwknopd.conf" "$T/fwknop/access.conf"
	ip netns exec "$NS_S" fwknopd -f -c "$T/fwknop/fwknopd.conf" -a "$T/fwknop/access.conf" \
		-r "$T/fwknop/run" -p "$T/fwknop/run/fwknopd.pid" -d "$T/fwknop/digest.cache" >>"$T/log/fwknopd.log" 2>&1 &
	echo $! >"$T/pid/fwknopd.pid"
	disown $!
	sleep 1
	pid_alive fwknopd || die "fwknopd exited at start: $(tail -5 "$T/log/fwknopd.log")"
}

# fwknop_rule PORT reports whether fwknopd has opened PORT.
fwknop_rule() { in_ns "$NS_S" iptables -w 5 -S FWKNOP_INPUT 2>/dev/null | grep -q -- "--dport $1 "; }

# fwknop_knock I sends one SPA packet asking for port 40000+I (a port per
# knock, so that fwknopd adds a rule each time instead of finding one).
fwknop_knock() {
	local t0 p=$((40000 + $1))
	t0=$EPOCHREALTIME
	mark fwknop "$p"
	in_ns "$NS_C" env HOME="$T/fwknop" fwknop --no-save-args --rc-file "$T/fwknop/fwknoprc" -A "tcp/$p" -a "$CLIENT_IP" \
		-D "$SERVER_IP" --use-hmac --key-base64-rijndael "$FWKNOP_KEY" --key-base64-hmac "$FWKNOP_HMAC" >/dev/null 2>&1 ||
		echo "fwknop failed" >&2
	wait_until 3 fwknop_rule "$p" || echo "fwknopd: no rule for port $p within 3 s" >&2
	pace "$t0"
}

# bench_split KIND [MARKS [ROWS]] turns the events and the marks (default
# $T/bench/marks) into one row of durations (ms) per knock of KIND in ROWS
# (default $T/bench/rows.KIND).
bench_split() {
	sort -n -k1,1 "$T/bench/events" "${2:-$T/bench/marks}" | awk -v want="$1" -v client="$CLIENT_IP" \
		-v kport="$KNOCK_PORT" -v dport="$KNOCKD_LAST" -v fport="$FWKNOP_PORT" -f "$LAB_DIR/lib/bench_split.awk" \
		>"${3:-$T/bench/rows.$1}"
}

# bench_row KIND NAME COLUMN prints p50, p99 and max of one column of KIND's rows.
bench_row() {
	awk -v c="$3" '$c != "-" { print $c }' "$T/bench/rows.$1" >"$T/bench/col"
	printf '  %-62s %7s %7s %7s\n' "$2" "$(percentile 50 "$T/bench/col")" \
		"$(percentile 99 "$T/bench/col")" "$(percentile 100 "$T/bench/col")"
}

run_bench() {
	local n=${KK_BENCH_KNOCKS:-50} i anchors=1 got
	mkdir -p "$T/bench"
	: >"$T/bench/marks"
	if command -v knockd >/dev/null && command -v knock >/dev/null && command -v fwknopd >/dev/null && command -v fwknop >/dev/null; then
		start_knockd
		start_fwknopd
	else
		anchors=0
		info "knockd or fwknop missing (lab/deps.sh bench installs them): no anchors"
	fi
	start_watch
	# The first knock also pays for socket activation (exec of kk-firewall)
	# and the monitor's first gRPC connection: not in the figures, but
	# shown on its own, since a server knocked less often than kk-firewall's
	# --idle-exit (60 s) pays that for every knock.
	kk_knock 29000
	[ "$anchors" = 0 ] || { knockd_knock; fwknop_knock 0; }
	sleep 0.3
	mv "$T/bench/marks" "$T/bench/marks.first"
	: >"$T/bench/marks"
	step "bench: SYN on the wire -> ACCEPT rule committed, $n knocks each, interleaved"
	for i in $(seq "$n"); do
		kk_knock $((30000 + i))
		[ "$anchors" = 0 ] || { knockd_knock; fwknop_knock "$i"; }
	done
	sleep 0.3
	stop_pid kkwatch
	bench_split kk
	got=$(wc -l <"$T/bench/rows.kk")
	printf '  %-62s %7s %7s %7s\n' "kk: $got/$n knocks measured, in ms" p50 p99 max
	bench_row kk "SYN on the wire -> ACCEPT rule committed" 1
	bench_row kk "  kernel LOG + rsyslogd's write (-> line readable)" 2
	bench_row kk "    LOG -> log readers woken (next tick: 0 to 1/HZ)" 11
	bench_row kk "    rsyslogd: read -> line in kern.log" 12
	bench_row kk "  kk-monitor: inotify wake, read, parse" 3
	bench_row kk "  kk-monitor: follower -> knock worker hand-off" 14
	bench_row kk "  kk-monitor: verify (worker took it -> counter matched)" 4
	bench_row kk "  kk-monitor: counter on disk (lock, write, fsync)" 5
	bench_row kk "  gRPC there and back (open - kk-firewall's took)" 6
	bench_row kk "  kk-firewall: request -> rule committed" 7
	bench_row kk "kk-firewall: rule committed -> answer (jump check, log)" 8
	bench_split kk "$T/bench/marks.first" "$T/bench/rows.kkfirst"
	if [ -s "$T/bench/rows.kkfirst" ]; then
		# Not wire -> rule: the helper's start may commit rules of its own
		# in KNOCKKNOCK, which the rule events cannot tell from the opening.
		bench_row kkfirst "first knock, kk-firewall socket-activated: wire -> answer" 13
		bench_row kkfirst "  gRPC with activation, helper start, connect (open - took)" 6
	fi
	bench_row kk "kk-client start -> SYN on the wire" 9
	bench_row kk "kk-client start -> exit" 10
	if [ "$anchors" = 1 ]; then
		bench_split knockd
		bench_split fwknop
		printf '  %-62s %7s %7s %7s\n' "anchors, same run, in ms" p50 p99 max
		bench_row knockd "knockd $(knockd_version): last SYN on the wire -> rule ($(wc -l <"$T/bench/rows.knockd")/$n)" 1
		bench_row fwknop "fwknopd $(dpkg-query -W -f='${Version}' fwknop-server 2>/dev/null | cut -d- -f1): SPA packet on the wire -> rule ($(wc -l <"$T/bench/rows.fwknop")/$n)" 1
	fi
	info "gRPC's share includes the helper's own logging; took is the helper's whole Open"
	info "the kernel wakes log readers at a timer tick: HZ=$(kernel_hz) here, so LOG -> readers woken averages $(awk -v h="$(kernel_hz)" 'BEGIN { printf "%.1f", h ? 500 / h : 0 }') ms"
	info "kk-firewall wrote rules: $(grep -o 'opening rules are written [^:"]*' "$T/log/kk-firewall.log" | sort | uniq -c | sed 's/^ *//' | paste -sd';' -)"
	info "iptables $(iptables -V | awk '{ print $2, $3 }'); CPUs: $(nproc); load average $(cut -d' ' -f1-3 /proc/loadavg)"
	[ "$got" -eq "$n" ]
}

# knock_log_packets prints how many packets the knock port's LOG rule logged.
knock_log_packets() {
	in_ns "$NS_S" iptables -w 5 -L KK_KNOCKLOG -n -v -x | awk '$3 == "LOG" { n += $1 } END { print n + 0 }'
}

# fresh_knocks N BASE knocks N times, each from a new client address
# (10.201.0.100+i, made the source by the client's route), so that each
# knock needs a new entry in the knock port's per-source limit, as a
# client's first knock does; sets FRESH_OK to how many opened within 2 s.
fresh_knocks() {
	local n=$1 base=$2 i ip t0 ok=0
	for i in $(seq "$n"); do
		ip=10.201.0.$((100 + i))
		in_ns "$NS_C" ip addr add "$ip/24" dev eth0
		in_ns "$NS_C" ip route replace 10.201.0.0/24 dev eth0 src "$ip"
		t0=$(now)
		knock $((base + i)) >/dev/null 2>&1 && wait_until 2 rule_present "$ip" $((base + i)) && ok=$((ok + 1))
		in_ns "$NS_C" ip route replace 10.201.0.0/24 dev eth0 src "$CLIENT_IP"
		in_ns "$NS_C" ip addr del "$ip/24" dev eth0
		pace "$t0"
	done
	FRESH_OK=$ok
}

# hashlimit_entries prints how many sources the knock port's per-source
# limit tracks now.
hashlimit_entries() { in_ns "$NS_S" cat /proc/net/ipt_hashlimit/kk_knock4 2>/dev/null | wc -l; }

# bench_spoofed_flood measures what the per-source limit cannot stop: a flood
# from random (spoofed) source addresses, where every garbage SYN needs its
# own hashlimit entry and so may get its own LOG line. It prints the rate
# reached, how many knocks opened from the client (whose entry the flood
# cannot take) and from fresh addresses (which must win an entry, as a first
# knock must), where log lines were lost and what it cost kk-monitor and
# rsyslogd. The flood comes from lab/tools/synflood (whole frames written
# to the attacker's veth, KK_BENCH_FLOOD_PPS per second, default 100000,
# the issue's figure; 0 for as fast as it can) or, with
# KK_BENCH_FLOODER=hping3, from KK_BENCH_FLOODERS (default 1) hping3
# --flood --rand-source at once.
bench_spoofed_flood() {
	local n=${KK_BENCH_FLOOD_KNOCKS:-100} nf=${KK_BENCH_FRESH_KNOCKS:-20} mon rs c0 c1 r0 r1 l0 l1 p0 p1 g0 g1 t0 t1 hz i ents ring
	local flooder=${KK_BENCH_FLOODER:-synflood} pps=${KK_BENCH_FLOOD_PPS:-100000} mac what
	case $flooder in
	synflood)
		(cd "$TOP" && PATH=$PATH:/usr/local/go/bin CGO_ENABLED=0 go build -trimpath -o "$T/bin/synflood" ./lab/tools/synflood) ||
			die "building lab/tools/synflood failed"
		mac=$(in_ns "$NS_S" cat /sys/class/net/br0/address)
		what="lab/tools/synflood at $([ "$pps" = 0 ] && echo "full speed" || echo "$pps") SYN/s" ;;
	hping3) what="${KK_BENCH_FLOODERS:-1} hping3 --flood --rand-source" ;;
	*) die "KK_BENCH_FLOODER=$flooder: use synflood or hping3" ;;
	esac
	step "bench: $n knocks, then $nf from fresh addresses, under $what at the knock port"
	mon=$(cat "$T/pid/monitor.pid")
	rs=$(cat "$T/pid/rsyslog.pid")
	hz=$(getconf CLK_TCK)
	c0=$(cpu_ticks "$mon")
	r0=$(cpu_ticks "$rs")
	l0=$(wc -l <"$T/log/kern.log")
	p0=$(knock_port_packets)
	g0=$(knock_log_packets)
	t0=$(now)
	mkdir -p "$T/bench"
	if [ "$flooder" = synflood ]; then
		ip netns exec "$NS_A" "$T/bin/synflood" -iface eth0 -dstmac "$mac" -dst "$SERVER_IP" -dport "$KNOCK_PORT" \
			-pps "$pps" -duration 180s >"$T/bench/synflood.out" 2>&1 &
		echo $! >"$T/pid/flood1.pid"
		disown $!
	else
		for i in $(seq "${KK_BENCH_FLOODERS:-1}"); do
			ip netns exec "$NS_A" timeout 180 hping3 -q -S -p "$KNOCK_PORT" --flood --rand-source "$SERVER_IP" >/dev/null 2>&1 &
			echo $! >"$T/pid/flood$i.pid"
			disown $!
		done
	fi
	sleep 1
	flood_knocks "$n" 40000 2
	fresh_knocks "$nf" 41000
	ents=$(hashlimit_entries)
	ring=$(dmesg -S 2>/dev/null | wc -l) # syslog(2): a snapshot of the ring
	if [ "$flooder" = synflood ]; then
		stop_pid flood1
		info "$(cat "$T/bench/synflood.out")"
	else
		for i in $(seq "${KK_BENCH_FLOODERS:-1}"); do stop_pid "flood$i"; done
	fi
	t1=$(now)
	c1=$(cpu_ticks "$mon")
	r1=$(cpu_ticks "$rs")
	sleep 1 # rsyslogd's queue drains
	l1=$(wc -l <"$T/log/kern.log")
	p1=$(knock_port_packets)
	g1=$(knock_log_packets)
	# Where a knock that did not open was lost: its LOG line never reached
	# kern.log (the kernel's ring or rsyslogd), or kk-monitor did not accept
	# it. The client's knocks are the kern.log lines from its address since
	# the flood began (the flood's sources are random), and kk-monitor's
	# accepted lines name the port each knock asked for.
	kl=$(tail -n +$((l0 + 1)) "$T/log/kern.log" | grep -c "SRC=$CLIENT_IP DST=.* DPT=$KNOCK_PORT " || true)
	acc=$(grep -E 'msg="?knock accepted' "$T/log/kk-monitor.log" | grep -cE "port=40(0[0-9][1-9]|0[1-9]0|100)( |$)" || true)
	awk -v ok="$FLOOD_OK" -v n="$n" -v fok="$FRESH_OK" -v nf="$nf" -v p=$((p1 - p0)) -v g=$((g1 - g0)) -v l=$((l1 - l0)) \
		-v c=$((c1 - c0)) -v r=$((r1 - r0)) -v hz="$hz" -v a="$t0" -v b="$t1" -v ents="$ents" -v ring="$ring" \
		-v kl="$kl" -v acc="$acc" 'BEGIN {
		d = b - a
		printf "  flood: %d SYN/s at the knock port (%d packets in %.1f s)\n", p / d, p, d
		printf "  %d/%d knocks opened (%.1f%%) from the client address (already in the limit table)\n", ok, n, 100 * ok / n
		printf "  %d/%d knocks opened (%.1f%%) from fresh addresses (a first knock: it must win a hashlimit entry)\n", fok, nf, 100 * fok / nf
		printf "  of the %d knocks from the client address: %d lines in kern.log, %d accepted by kk-monitor\n", n, kl, acc
		printf "  LOG rule fired %d times/s; kern.log got %d lines/s (%d lines lost between the LOG rule and kern.log)\n", g / d, l / d, g - l
		printf "  the kernel log ring held %d lines (dmesg -S): %.0f ms of this flood; rsyslogd stalled longer than that loses lines\n", ring, 1000 * ring / (g / d)
		printf "  the per-source limit tracked %d sources at the end (its htable-max is 262144; when full, new sources are dropped unlogged)\n", ents
		printf "  CPU: kk-monitor %.1f%% of a core, rsyslogd %.1f%%\n", 100 * c / hz / d, 100 * r / hz / d }'
}

# bench_client_start measures client start -> knock packet on the wire for
# kk-client and two anchors run in the same loop, interleaved: knockd's
# `knock` (one TCP SYN) and fwknop's client (one UDP SPA packet), all sending
# from the client namespace to the server namespace. lab/tools/startbench
# stamps t0 just before each client's fork+exec and t1 with the kernel's
# receive timestamp of the packet on an AF_PACKET socket in the server
# namespace. "kk-client -h" (exec, Go runtime start, flag parsing, exit)
# is the part of kk-client's time no knock code runs in, and an empty Go
# program (startbench -noop) the floor any Go client pays.
bench_client_start() {
	local n=${KK_BENCH_KNOCKS:-50} keys rkey hkey
	need knock knockd
	need fwknop fwknop-client
	step "bench: client start -> knock on the wire over $n rounds (kk-client, knockd's knock, fwknop), interleaved"
	(cd "$TOP" && PATH=$PATH:/usr/local/go/bin CGO_ENABLED=0 go build -trimpath -o "$T/bin/startbench" ./lab/tools/startbench) ||
		die "building lab/tools/startbench failed"
	mkdir -p "$T/fwknop" "$T/bench"
	keys=$(HOME=$T/fwknop fwknop --key-gen)
	rkey=$(sed -n 's/^KEY_BASE64: *//p' <<<"$keys")
	hkey=$(sed -n 's/^HMAC_KEY_BASE64: *//p' <<<"$keys")
	install -m 0600 /dev/null "$T/fwknop/rc"
	# KK_BENCH_CLIENT_BEFORE=BINARY adds another kk-client build to the same
	# loop (with its own copy of the profile), to compare two commits.
	local before=()
	if [ -n "${KK_BENCH_CLIENT_BEFORE:-}" ]; then
		cp -a "$CLIENT_PROFILE" "$T/client/before"
		install -m 0755 "$KK_BENCH_CLIENT_BEFORE" "$T/bin/kk-client-before"
		before=(-c "kk-client,_the_other_build tcp $KNOCK_PORT $T/bin/kk-client-before -p 31000 -s $SERVER_IP -d $T/client/before")
	fi
	# The knocks ask for port 31000, which no other bench step uses.
	in_ns "$NS_C" env HOME="$T/client/home" "$T/bin/startbench" -netns "/run/netns/$NS_S" -dst "$SERVER_IP" -n "$n" \
		-c "kk-client $(printf 'tcp %s %s -p 31000 -s %s -d %s' "$KNOCK_PORT" "$BIN/kk-client" "$SERVER_IP" "$CLIENT_PROFILE")" \
		-c "knock(knockd) tcp 7000 $(command -v knock) $SERVER_IP 7000" \
		-c "fwknop(fwknop-client) udp 62201 $(command -v fwknop) -A tcp/31000 -a $CLIENT_IP -D $SERVER_IP --use-hmac --key-base64-rijndael $rkey --key-base64-hmac $hkey --no-save-args --rc-file $T/fwknop/rc" \
		"${before[@]}" \
		-c "kk-client_-h_(exec,_Go_runtime_start,_exit) exit 0 $BIN/kk-client -h" \
		-c "empty_Go_program_(exec,_runtime_start,_exit) exit 0 $T/bin/startbench -noop" >"$T/bench/start.out" ||
		{ cat "$T/bench/start.out"; die "startbench failed"; }
	cat "$T/bench/start.out"
	info "p50/p99/max: start (just before fork+exec) -> the SYN/UDP packet's kernel receive timestamp in the server namespace;"
	info "exit50/exit99: start -> the client has exited${KK_BENCH_CLIENT_BEFORE:+; the other build: $KK_BENCH_CLIENT_BEFORE}"
	info "(started by startbench inside the client namespace: no ip netns exec or env in front of the client, as there is in a shell's t0)"
	bench_client_phases
}

# bench_client_phases prints where kk-client's time goes after its runtime
# has started, one phase at a time (pkg/syn's BenchmarkKnockPhase, mean of
# 300 runs each; the raw socket runs in a namespace of its own).
bench_client_phases() {
	local out
	out=$(cd "$TOP" && PATH=$PATH:/usr/local/go/bin go test -run '^$' -bench 'KnockPhase' -benchtime 300x ./pkg/syn 2>&1) ||
		{ printf '%s\n' "$out"; die "go test -bench KnockPhase ./pkg/syn failed"; }
	info "kk-client's phases after the Go runtime has started (mean of 300 runs, in microseconds):"
	awk '/^BenchmarkKnockPhase\// { sub(/^BenchmarkKnockPhase\//, "", $1); sub(/-[0-9]+$/, "", $1)
		printf "     %-44s %9.1f\n", $1, $3 / 1000 }' <<<"$out"
}
