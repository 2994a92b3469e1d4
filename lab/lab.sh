#!/usr/bin/env bash
# lab.sh: the whole kk path for real, with nothing faked:
#   kk-client SYN -> kernel LOG -> rsyslogd -> kern.log -> kk-monitor (unprivileged)
#   -> gRPC on a unix socket -> kk-firewall (root, socket-activated) -> iptables
#   -> a real TCP connection.
#
# Usage: lab/lab.sh demo|test|bench   (as root; `make demo`, `make test`, `make bench`)
#   demo   step-by-step tour for a newcomer, under 2 minutes
#   test   every check, one PASS/FAIL line each; exit 1 if any failed
#   bench  SYN on the wire -> rule over 50 knocks, split, with knockd and
#          fwknopd in the same run; client start -> knock on the wire, with
#          knockd's and fwknop's clients; a spoofed flood
#
# It builds three network namespaces (server, client, attacker), runs its own
# rsyslogd and leaves the host's firewall, logger and users as they were:
# everything it creates is removed on exit, failure or Ctrl-C.
# Environment: KK_LAB_BIN (binaries, default ./bin), KK_LAB_USER (default
# knockknock), KK_LAB_DELAY (seconds, default 4; 15 for bench), KK_LAB_KEEP=1 keeps
# the temp dir, KK_BENCH_KNOCKS (default 50), KK_BENCH_ONLY=client, wire or
# flood (bench: only the client start, the wire -> rule or the flood part),
# KK_LAB_FIREWALL_BACKEND (kk-firewall's --backend, default auto; iptables
# measures the exec path).
set -euo pipefail

LAB_DIR=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$LAB_DIR/.." && pwd)
MODE=${1:-}
# A hard bound on the whole run, whatever hangs.
case "$MODE" in demo) LAB_TIMEOUT=240 ;; test) LAB_TIMEOUT=480 ;; bench) LAB_TIMEOUT=300 ;; esac
# The bench uses the product's default delay (15 s), so its 50 knocks are
# measured as a user meets them, not behind a burst of expiries.
[ "$MODE" != bench ] || : "${KK_LAB_DELAY:=15}"

. "$LAB_DIR/lib/check.sh"
. "$LAB_DIR/lib/common.sh"
. "$LAB_DIR/lib/setup.sh"
. "$LAB_DIR/lib/daemons.sh"
. "$LAB_DIR/lib/checks.sh"
. "$LAB_DIR/lib/recovery.sh"
. "$LAB_DIR/lib/stress.sh"
. "$LAB_DIR/lib/steal.sh"
. "$LAB_DIR/lib/bench.sh"
. "$LAB_DIR/lib/demo.sh"

preflight() {
	[ "$(id -u)" -eq 0 ] || die "needs root for network namespaces, iptables and the lab user: run sudo make $MODE"
	local b
	for b in kk-monitor kk-firewall kk-client; do
		[ -x "$BIN/$b" ] || die "$BIN/$b missing: run make build"
	done
	need ip iproute2
	need iptables iptables
	need rsyslogd rsyslog
	need hping3 hping3
	need logrotate logrotate
	need socat socat
	need curl curl
	need setpriv util-linux
	need getcap libcap2-bin
	need systemd-socket-activate systemd
	[ -e /proc/sys/net/netfilter/nf_log_all_netns ] || die "the kernel has no net.netfilter.nf_log_all_netns: LOG in a namespace needs it"
}

# watchdog ends the lab (and so runs teardown) if it outlives LAB_TIMEOUT.
watchdog() {
	(
		sleep "$LAB_TIMEOUT" &
		echo $! >"$T/pid/watchdog.pid"
		# Teardown kills the sleep; only a sleep that ran out stops the lab.
		if wait $!; then
			echo "lab: still running after $LAB_TIMEOUT s; stopping" >&2
			kill -TERM $$
		fi
	) &
}

# bring_up builds the whole lab, in the order the data flows.
bring_up() {
	setup_user
	setup_namespaces
	enable_netns_logging
	start_service
	make_profile
	load_firewall
	start_rsyslog
	write_config
	start_firewall
	start_monitor
}

run_test() {
	step "systemd units, make install (into a temp DESTDIR)"
	local rc=0
	bash "$TOP/systemd/check.sh" "$BIN" >"$T/systemd-check.out" 2>&1 || rc=$?
	cat "$T/systemd-check.out"
	PASSED=$((PASSED + $(grep -c '^PASS' "$T/systemd-check.out" || true)))
	FAILED=$((FAILED + $(grep -c '^FAIL' "$T/systemd-check.out" || true)))
	[ "$rc" -eq 0 ] || grep -q '^FAIL' "$T/systemd-check.out" || fail "systemd/check.sh exited $rc"
	check "make install DESTDIR=... and make uninstall" chk_install
	step "lab: namespaces $NS_S/$NS_C/$NS_A, rsyslogd, kk-firewall, kk-monitor"
	bring_up
	check "before the knock, the client cannot connect" chk_before_knock
	check "kk-client knock opens the port for the client" chk_knock_opens
	check "kk-firewall was socket-activated" chk_activated
	check "kk-monitor runs unprivileged" chk_monitor_unprivileged
	check "the attacker still cannot connect" chk_attacker_refused
	check "a second knock while open admits exactly one more connection" chk_reknock
	check "after delay the rule is gone and a new connection fails" chk_expires
	check "IPv6: kk-client -6 with the same profile opens the port for the client's IPv6 address only, until delay" chk_ipv6
	check "IPv6 replay of the knock's 4 header fields (FLOWLBL, SEQ, ACK, WINDOW) from the client opens nothing" chk_replay6 "$NS_C" "$CLIENT_IP6"
	check "IPv6 replay of the knock's 4 header fields from the attacker opens nothing" chk_replay6 "$NS_A" "$ATTACKER_IP6"
	check "kk-monitor check: all OK, then FAIL with the fix for a deleted LOG rule and a dead socket" chk_monitor_check
	check "replay of the knock's 4 header fields from the client opens nothing" chk_replay "$NS_C" "$CLIENT_IP"
	check "replay of the knock's 4 header fields from the attacker opens nothing" chk_replay "$NS_A" "$ATTACKER_IP"
	check "kk-monitor counts in its state directory and cannot change the profile" chk_profile_readonly
	check "with allowed_ports, a client 10,000 knocks ahead gets in; replays stay refused" chk_counter_gap
	check "on-path theft, v1: the client's knock, dropped and resent from the attacker, opens for the attacker (documented limit)" chk_steal 1
	check "on-path theft, v2: the same theft opens nothing; the owner's late copy still opens" chk_steal 2
	start_proxy
	check "kk-client proxy knocks and a SOCKS5 connection reaches the service" chk_proxy
	check "after logrotate of kern.log a knock still opens" chk_logrotate
	check "kill -9 of kk-firewall: the kernel stops at the deadline, the next start sweeps" chk_kill9
	check "flood: >= 99/100 knocks open while the attacker floods the knock port" chk_flood
	check "control: the same flood starves knocks under the seed's global LOG limit" chk_flood_control
	check "kk-monitor and kk-firewall are healthy at the end" chk_daemons_healthy
	check "the host's own firewall rules were not touched" chk_host_untouched
	printf '\nlab: %d passed, %d failed\n' "$PASSED" "$FAILED"
	[ "$FAILED" -eq 0 ]
}

main() {
	case "$MODE" in
	demo | test | bench) ;;
	*) echo "usage: lab/lab.sh demo|test|bench" >&2; exit 2 ;;
	esac
	preflight
	exec 7>&1 8>&2
	setup_dirs
	trap teardown EXIT
	trap 'exit 130' INT TERM
	watchdog
	case "$MODE" in
	demo) run_demo ;;
	test) run_test ;;
	bench)
		bring_up
		if [ "${KK_BENCH_ONLY:-}" = client ]; then
			bench_client_start
		elif [ "${KK_BENCH_ONLY:-}" = flood ]; then
			bench_spoofed_flood
		elif [ "${KK_BENCH_ONLY:-}" = wire ]; then
			run_bench
		else
			run_bench && bench_client_start && bench_spoofed_flood
		fi
		;;
	esac
}

main
