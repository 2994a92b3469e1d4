# realsystemd_checks.sh: the checks lab/realsystemd.sh runs against kk's
# units in the booted container. Sourced by realsystemd.sh; each chk_ prints a
# short detail and returns 0 for PASS.

UNITS=(knockknock-firewall.service kk-firewall.socket kk-monitor.service)
# The file /etc/rsyslog.d/30-knockknock.conf writes, kk-monitor's log_file.
KKLOG=/var/log/knockknock/kern.log
# The profile README's commands make (the package test takes the one the
# EXAMPLES of kk-monitor(8) make).
PROFILE_NAME=${PROFILE_NAME:-clement-laptop}
KNOCK_PORT=${KNOCK_PORT:-666}
PROFILE_DIR_CT=/etc/knockknock.d/profiles/$PROFILE_NAME

in_s() { ip netns exec "$NS_S" "$@"; }
in_c() { ip netns exec "$NS_C" "$@"; }

# monitor_log prints kk-monitor's journal since its current start.
monitor_log() {
	local inv
	inv=$(nsenter_ct systemctl show -P InvocationID kk-monitor.service)
	nsenter_ct journalctl --no-pager -q -o cat _SYSTEMD_INVOCATION_ID="$inv"
}

chk_units_active() {
	local u st bad=
	for u in "${UNITS[@]}"; do
		st=$(nsenter_ct systemctl is-active "$u" 2>&1) || true
		[ "$st" = active ] || bad+="$u is $st; "
	done
	[ -z "$bad" ] || { echo "$bad$(nsenter_ct systemctl status --no-pager -n 5 "${UNITS[@]}" 2>&1 | tail -n 30)"; return 1; }
	echo "${UNITS[*]} active"
}

chk_monitor_user() {
	local pid user caps
	pid=$(nsenter_ct systemctl show -P MainPID kk-monitor.service)
	[ "$pid" -gt 0 ] || { echo "kk-monitor has no main pid"; return 1; }
	user=$(nsenter_ct ps -o user= -p "$pid")
	caps=$(nsenter_ct awk '/^CapEff:/ { print $2 }' "/proc/$pid/status")
	[ "$user" = knockknock ] || { echo "runs as $user"; return 1; }
	[ "$caps" = 0000000000000000 ] || { echo "CapEff $caps"; return 1; }
	echo "user knockknock, CapEff 0"
}

# chk_log_rules: the boot unit loaded a LOG rule for the profile's knock port,
# reading the port as knockknock.
chk_log_rules() {
	local rules
	rules=$(in_s iptables -S KK_INPUT 2>&1) || { echo "no KK_INPUT chain: $rules"; return 1; }
	grep -q -- "--dport $KNOCK_PORT -j KK_KNOCKLOG" <<<"$rules" || { echo "no knock-port rule for $KNOCK_PORT in: $rules"; return 1; }
	echo "KK_INPUT sends port $KNOCK_PORT to KK_KNOCKLOG"
}

# restarted_since UNIT INVOCATION: UNIT is active in another invocation.
restarted_since() {
	[ "$(nsenter_ct systemctl show -P InvocationID "$1")" != "$2" ] && nsenter_ct systemctl is-active --quiet "$1"
}

# chk_nftables: a server that enables nftables.service (Debian's config
# starts with "flush ruleset") keeps kk's rules: a reload of nftables.service
# loads them again, and a restart (as at boot) restarts
# knockknock-firewall.service only after nftables' flush has finished.
chk_nftables() {
	local nft kk inv
	nsenter_ct systemctl is-active --quiet nftables.service ||
		{ echo "nftables.service did not run at boot: $(nsenter_ct systemctl status --no-pager nftables.service 2>&1 | tail -n 3)"; return 1; }
	nsenter_ct systemctl reload nftables.service || { echo "systemctl reload nftables.service failed"; return 1; }
	wait_until 10 chk_log_rules || { echo "after systemctl reload nftables.service: $(chk_log_rules)"; return 1; }
	inv=$(nsenter_ct systemctl show -P InvocationID knockknock-firewall.service)
	nsenter_ct systemctl restart nftables.service || { echo "systemctl restart nftables.service failed"; return 1; }
	wait_until 10 restarted_since knockknock-firewall.service "$inv" ||
		{ echo "restarting nftables.service did not restart knockknock-firewall.service"; return 1; }
	nft=$(nsenter_ct systemctl show -P ActiveEnterTimestampMonotonic nftables.service)
	kk=$(nsenter_ct systemctl show -P InactiveExitTimestampMonotonic knockknock-firewall.service)
	[ "$kk" -ge "$nft" ] ||
		{ echo "knockknock-firewall.service started at ${kk} µs, before nftables.service's flush finished at ${nft} µs"; return 1; }
	in_s nft list table inet filter >/dev/null 2>&1 || { echo "after the restart, nftables' own table is missing"; return 1; }
	wait_until 10 chk_log_rules || { echo "after systemctl restart nftables.service: $(chk_log_rules)"; return 1; }
	echo "reloaded: rules back; restarted: kk's load began $(((kk - nft) / 1000)) ms after the flush finished"
}

# chk_auto_source WANT: kk-monitor's log says which source auto chose, and why.
chk_auto_source() {
	local want=$1 line
	wait_until 10 monitor_says 'log source' || true
	line=$(monitor_log | grep -m1 'log source' || true)
	[ -n "$line" ] || { echo "no 'log source' line in kk-monitor's journal: $(monitor_log | tail -n 5)"; return 1; }
	grep -q "$want" <<<"$line" || { echo "want $want, got: $line"; return 1; }
	echo "$line"
}

# chk_journal_follower: with log_source = journald, kk-monitor's journalctl
# child runs under the unit's sandbox and has failed no time. A knock cannot
# go this way in a container: a sandboxed service gets a fresh /proc that
# shows the kernel's boot ID, not the container's that journald stamps on
# entries, so journalctl -k there matches nothing (on a host the two agree).
# The journald follower's knocks are tested against real journal files
# written by systemd-journal-remote, in pkg/kernlog and pkg/monitor.
chk_journal_follower() {
	local pid child
	sleep 3
	pid=$(nsenter_ct systemctl show -P MainPID kk-monitor.service)
	child=$(nsenter_ct ps -o args= --ppid "$pid" || true)
	case "$child" in journalctl*-k*-f*) ;; *) echo "kk-monitor (pid $pid) runs no journalctl -k -f: '$child'"; return 1 ;; esac
	if monitor_says 'following the kernel log failed'; then echo "$(monitor_log | grep -m1 'following the kernel log failed')"; return 1; fi
	echo "'$child' running 3 s, no error"
}

# start_rsyslog turns the container into a Debian with rsyslog: kern.log
# appears and kk-monitor, restarted, follows it.
start_rsyslog() {
	nsenter_ct systemctl start rsyslog.service
	wait_until 15 nsenter_ct test -f "$KKLOG" || { echo "rsyslog wrote no $KKLOG (kk's rule in /etc/rsyslog.d)"; return 1; }
	nsenter_ct systemctl restart kk-monitor.service
	echo "rsyslog active, $KKLOG present, kk-monitor restarted"
}

# knock sends one knock for the service port from the client's namespace,
# with the profile the README's genprofile made, copied as with scp.
knock() {
	local d=$work/client/$SERVER_IP
	if [ ! -d "$d" ]; then
		mkdir -p "$d"
		cp "$CT_ROOT$PROFILE_DIR_CT"/{cipher.key,mac.key,counter,config} "$d/"
		chmod 0700 "$d"
		chmod 0600 "$d"/*
	fi
	in_c "$bindir/kk-client" -p "$SERVICE_PORT" -s "$SERVER_IP" -d "$d"
}

monitor_says() { monitor_log | grep -q "$1"; }
rule_absent() { ! rule_present; }
helper_idle() { [ "$(nsenter_ct systemctl is-active kk-firewall.service)" != active ]; }
rule_present() { in_s iptables -S KNOCKKNOCK 2>/dev/null | grep -q -- "-s $CLIENT_IP/32 .*--dport $SERVICE_PORT "; }
connect() { in_c socat -T 3 - "TCP:$SERVER_IP:$SERVICE_PORT,connect-timeout=3" </dev/null 2>/dev/null | grep -q kk-service-reached; }

chk_knock() {
	local st
	if connect; then echo "connected before the knock"; return 1; fi
	# The first knock must start kk-firewall through its socket.
	if [ "${1:-}" = activates ] && ! helper_idle; then echo "kk-firewall.service was running before the first knock"; return 1; fi
	knock >/dev/null || { echo "kk-client failed"; return 1; }
	wait_until 10 rule_present || { echo "no rule 10 s after the knock; kk-monitor: $(monitor_log | tail -n 3)"; return 1; }
	st=$(nsenter_ct systemctl is-active kk-firewall.service) || true
	[ "$st" = active ] || { echo "rule present, but kk-firewall.service is $st"; return 1; }
	connect || { echo "rule present but the TCP connection failed"; return 1; }
	echo "$(monitor_log | grep -m1 -o 'log source: [a-z]*'), rule for $CLIENT_IP:$SERVICE_PORT, kk-firewall.service active, service reached"
}

# fw_backend_lines prints kk-firewall's lines saying how it writes rules.
fw_backend_lines() {
	nsenter_ct journalctl --no-pager -q -o cat -u kk-firewall.service | grep 'opening rules are written' || true
}

fw_on_netlink() { [ "$(fw_backend_lines | grep -c 'over nf_tables netlink')" -ge 2 ]; }

# chk_fw_netlink: inside its unit's sandbox (CAP_NET_ADMIN alone,
# RestrictAddressFamilies, SystemCallFilter) kk-firewall's start-up check
# passes for both families, so it writes openings over nf_tables netlink
# instead of falling back to running iptables.
chk_fw_netlink() {
	wait_until 10 fw_on_netlink || { echo "kk-firewall does not write over netlink: $(fw_backend_lines | tail -n 2 | tr '\n' ';')"; return 1; }
	if fw_backend_lines | grep -q 'failed its start-up check'; then
		echo "a start-up check failed: $(fw_backend_lines | grep -m1 'failed')"
		return 1
	fi
	echo "$(fw_backend_lines | grep -c 'over nf_tables netlink') lines: iptables and ip6tables over nf_tables netlink"
}

chk_expiry() {
	rule_present || { echo "no opening to watch expire"; return 1; }
	wait_until $((DELAY + 5)) rule_absent ||
		{ echo "rule still there $((DELAY + 5)) s after the knock"; return 1; }
	if connect; then echo "rule gone but a new connection succeeded"; return 1; fi
	echo "rule gone within $DELAY s + 5, new connection refused"
}

chk_reload() {
	local pid0 pid1 st
	pid0=$(nsenter_ct systemctl show -P MainPID kk-monitor.service)
	nsenter_ct systemctl reload kk-monitor.service || { echo "systemctl reload failed"; return 1; }
	sleep 1
	st=$(nsenter_ct systemctl is-active kk-monitor.service) || true
	pid1=$(nsenter_ct systemctl show -P MainPID kk-monitor.service)
	[ "$st" = active ] && [ "$pid0" = "$pid1" ] || { echo "after reload: $st, pid $pid0 -> $pid1"; return 1; }
	knock >/dev/null || { echo "kk-client failed after the reload"; return 1; }
	wait_until 10 rule_present || { echo "a knock after the reload opened nothing"; return 1; }
	echo "active, same pid $pid1, and a knock after it opens"
}

# chk_fw_list_revoke: after a knock, kk-firewall list shows the opening to
# root and to a member of the socket's group (not root, not knockknock), a
# user outside the group is told which group to join, and revoke by the
# member closes it: the knock's one connection is then refused.
chk_fw_list_revoke() {
	local out rc member=(setpriv --reuid=4242 --regid=4242 --groups=knockknock)
	knock >/dev/null || { echo "kk-client failed"; return 1; }
	wait_until 10 rule_present || { echo "no rule 10 s after the knock"; return 1; }
	out=$(nsenter_ct kk-firewall list --json) || { echo "list --json as root failed: $out"; return 1; }
	grep -q "\"source_ip\": \"$CLIENT_IP\"" <<<"$out" && grep -q "\"port\": $SERVICE_PORT," <<<"$out" &&
		grep -q "\"profile\": \"$PROFILE_NAME\"" <<<"$out" || { echo "list --json as root lacks the opening: $out"; return 1; }
	out=$(nsenter_ct "${member[@]}" kk-firewall list) || { echo "list as a member of knockknock failed: $out"; return 1; }
	grep -qE "^$CLIENT_IP +ipv4 +tcp +$SERVICE_PORT +$PROFILE_NAME " <<<"$out" || { echo "list as a member lacks the opening: $out"; return 1; }
	out=$(nsenter_ct setpriv --reuid=nobody --regid=nogroup --clear-groups kk-firewall list 2>&1) && rc=0 || rc=$?
	[ "$rc" = 5 ] && grep -q 'add yourself to group knockknock' <<<"$out" || { echo "list as nobody: exit $rc, $out"; return 1; }
	out=$(nsenter_ct "${member[@]}" kk-firewall revoke "$CLIENT_IP" "$SERVICE_PORT" 2>&1) || { echo "revoke as a member failed: $out"; return 1; }
	rule_absent || { echo "rule still there after revoke"; return 1; }
	if connect; then echo "revoked, but the knock's connection still got through"; return 1; fi
	echo "root and group knockknock see it, nobody is told to join knockknock; $out, connection refused"
}

# journal_errors prints the three units' (and kk-firewall.service's) entries
# at priority err or worse.
journal_errors() {
	nsenter_ct journalctl --no-pager -q -p err -o cat \
		-u kk-monitor.service -u kk-firewall.service -u kk-firewall.socket -u knockknock-firewall.service
}

journal_says_err() { journal_errors | grep -q "$1"; }

chk_journal_clean() {
	local errs
	errs=$(journal_errors)
	[ -z "$errs" ] || { echo "$errs" | head -n 5; return 1; }
	echo "journalctl -p err for the units is empty"
}

# chk_journal_priority: a profile whose key is garbage makes kk-monitor log
# an error on reload; journald must file it at priority err, and the
# monitor's INFO lines at info.
chk_journal_priority() {
	local bad=/etc/knockknock.d/profiles/broken prio
	nsenter_ct kk-monitor genprofile 667 broken >/dev/null
	nsenter_ct sh -c "echo not-base64 >$bad/cipher.key"
	nsenter_ct systemctl reload kk-monitor.service
	wait_until 10 journal_says_err broken ||
		{ echo "journalctl -p err shows no error for the broken profile; kk-monitor: $(monitor_log | tail -n 3)"; return 1; }
	prio=$(nsenter_ct journalctl --no-pager -q -u kk-monitor.service -o json | grep 'knock accepted' | head -n 1 |
		sed -n 's/.*"PRIORITY":"\([0-9]\)".*/\1/p')
	[ "$prio" = 6 ] || { echo "'knock accepted' has priority '$prio', want 6"; return 1; }
	nsenter_ct rm -rf "$bad"
	nsenter_ct systemctl reload kk-monitor.service
	echo "broken profile: $(journal_errors | grep -m1 broken | cut -c1-120); knock accepted at priority 6"
}

chk_stop() {
	nsenter_ct systemctl stop kk-monitor.service kk-firewall.socket kk-firewall.service knockknock-firewall.service ||
		{ echo "systemctl stop failed"; return 1; }
	if in_s iptables -S KNOCKKNOCK >/dev/null 2>&1; then echo "KNOCKKNOCK chain still there"; return 1; fi
	if in_s iptables -S KK_INPUT >/dev/null 2>&1; then echo "KK_INPUT chain still there"; return 1; fi
	in_s iptables -S INPUT | grep -q -- '-j KNOCKKNOCK\|-j KK_INPUT' && { echo "INPUT still jumps to kk"; return 1; }
	echo "KNOCKKNOCK, KK_INPUT and their jumps removed"
}

# chk_kk_check_ok: kk-monitor check, as root and as knockknock, finds this
# working server able to receive knocks.
chk_kk_check_ok() {
	local out rc who counts=
	for who in root knockknock; do
		# setpriv, not runuser: the container has no PAM configuration.
		out=$(nsenter_ct setpriv --reuid="$who" --regid="$who" --init-groups kk-monitor check 2>&1) && rc=0 || rc=$?
		[ "$rc" -eq 0 ] && ! grep -q '^FAIL' <<<"$out" || { echo "as $who, exit $rc:"; echo "$out"; return 1; }
		counts+="${counts:+, }as $who $(grep -c '^OK' <<<"$out") OK"
	done
	echo "exit 0, $counts"
}

# chk_kk_check_broken: with the units stopped, kk-monitor check fails and
# names the fix for the missing LOG rules and the socket.
chk_kk_check_broken() {
	local out rc
	out=$(nsenter_ct kk-monitor check 2>&1) && rc=0 || rc=$?
	[ "$rc" -eq 1 ] || { echo "exit $rc, want 1: $out"; return 1; }
	grep -q '^FAIL .*fix: .*knockknock-firewall' <<<"$out" || { echo "no FAIL naming knockknock-firewall for the LOG rules: $out"; return 1; }
	grep -q '^FAIL .*fix: .*kk-firewall.socket' <<<"$out" || { echo "no FAIL naming kk-firewall.socket: $out"; return 1; }
	echo "exit 1; $(grep -c '^FAIL' <<<"$out") FAIL lines, each with its fix"
}

# chk_profile_trust: after README's commands the profile is root's and only
# readable by knockknock, and the monitor counts in its StateDirectory, never
# in /etc.
chk_profile_trust() {
	local modes etc state
	modes=$(nsenter_ct stat -c '%n %a %U:%G' "$PROFILE_DIR_CT" "$PROFILE_DIR_CT"/cipher.key "$PROFILE_DIR_CT"/mac.key)
	while read -r f m o; do
		case "$f" in *.key) want=640 ;; *) want=750 ;; esac
		[ "$m $o" = "$want root:knockknock" ] || { echo "$f is $m $o, want $want root:knockknock"; return 1; }
	done <<<"$modes"
	etc=$(nsenter_ct cat "$PROFILE_DIR_CT/counter")
	[ "$etc" = 0 ] || { echo "/etc counter is $etc: kk-monitor wrote it"; return 1; }
	# The state counter file follows the durable record within 5 s.
	local i
	for i in $(seq 20); do
		state=$(nsenter_ct cat "/var/lib/knockknock/$PROFILE_NAME/counter" 2>&1) || state="none: $state"
		[[ "$state" =~ ^[0-9]+$ ]] && [ "$state" -ge 2 ] && break
		sleep 0.5
	done
	[[ "$state" =~ ^[0-9]+$ ]] && [ "$state" -ge 2 ] || { echo "state counter is $state 10 s after two knocks"; return 1; }
	echo "profile 0750/0640 root:knockknock, /etc counter still 0, /var/lib/knockknock counter $state"
}

# run_checks runs the checks; with "deb", the package's: rsyslog (which it
# recommends) runs from the start and postinst created $KKLOG, so the
# journald checks of a stock Debian without rsyslog are make install's alone.
run_checks() {
	check "README's units are active" chk_units_active
	check "kk-monitor runs as knockknock with CapEff 0" chk_monitor_user
	check "knockknock-firewall.service loaded the knock port's LOG rule" chk_log_rules
	if [ "${1:-}" != deb ]; then
		check "kk's rules survive nftables.service's flush: its reload loads them again, its restart reloads them after it" chk_nftables
		check "stock Debian (no rsyslog running, no $KKLOG): log_source = auto follows journald and says why" chk_auto_source journald
		check "stock Debian: kk-monitor's journalctl follows the journal inside the unit's sandbox" chk_journal_follower
		check "rsyslog started" start_rsyslog
	fi
	check "with rsyslog and kk's rule: log_source = auto follows $KKLOG" chk_auto_source "$KKLOG"
	if [ "${1:-}" = deb ]; then
		# The EXAMPLES' knock already socket-activated kk-firewall.
		check "with rsyslog: a knock read from $KKLOG opens the port, TCP gets through" chk_knock
	else
		check "with rsyslog: a knock read from $KKLOG socket-activates kk-firewall, TCP gets through" chk_knock activates
	fi
	check "kk-firewall writes openings over nf_tables netlink inside its unit's sandbox" chk_fw_netlink
	check "after delay the rule is gone" chk_expiry
	check "systemctl reload kk-monitor keeps it active" chk_reload
	check "kk-firewall list shows a knock's opening to root and group knockknock; revoke closes it" chk_fw_list_revoke
	check "keys root's and read-only to kk-monitor; counters in its StateDirectory" chk_profile_trust
	check "kk-monitor check: a working server is OK" chk_kk_check_ok
	check "the units' journal has no error" chk_journal_clean
	check "journal priorities: an error at err, info at info" chk_journal_priority
	check "systemctl stop removes the KNOCKKNOCK chain" chk_stop
	check "kk-monitor check: the stopped server FAILs with fixes" chk_kk_check_broken
}

# The package's checks (realsystemd.sh --deb).

# chk_pkg_install: apt installs the .deb with the dependencies the root has.
chk_pkg_install() {
	local deb=/root/${DEB##*/}
	nsenter_ct env DEBIAN_FRONTEND=noninteractive apt install -y "$deb" >"$work/apt-install.log" 2>&1 ||
		{ tail -n 15 "$work/apt-install.log"; return 1; }
	nsenter_ct dpkg-query -W -f='${Status} ${Version}' kk
}

# chk_pkg_installed: what postinst did, and what it must not have done.
chk_pkg_installed() {
	local u st en cap n
	nsenter_ct id knockknock | grep -q '(adm)' || { echo "no knockknock user in adm: $(nsenter_ct id knockknock 2>&1)"; return 1; }
	cap=$(nsenter_ct getcap /usr/bin/kk-client)
	grep -q 'cap_net_raw=ep' <<<"$cap" || { echo "kk-client has no cap_net_raw+ep: '$cap'"; return 1; }
	for u in "${UNITS[@]}"; do
		en=$(nsenter_ct systemctl is-enabled "$u" 2>&1) || true
		st=$(nsenter_ct systemctl is-active "$u" 2>&1) || true
		[ "$en" = enabled ] || { echo "$u is $en, want enabled"; return 1; }
		[ "$st" = inactive ] || { echo "$u is $st before any profile exists"; return 1; }
	done
	if in_s iptables -S KK_INPUT >/dev/null 2>&1; then echo "kk's rules are loaded before any profile exists"; return 1; fi
	nsenter_ct test -f "$KKLOG" || { echo "postinst created no $KKLOG with rsyslog installed"; return 1; }
	# The original's command names are symlinks to the binaries.
	for n in /usr/bin/knockknock:kk-client /usr/bin/knockknock-proxy:kk-client \
		/usr/sbin/knockknock-daemon:kk-monitor /usr/sbin/knockknock-genprofile:kk-monitor; do
		[ "$(nsenter_ct readlink -f "${n%%:*}")" = "/usr/bin/${n#*:}" ] || { echo "${n%%:*} does not lead to /usr/bin/${n#*:}"; return 1; }
	done
	echo "knockknock in adm, kk-client $cap, ${UNITS[*]} enabled and inactive, no rules, $KKLOG present, 4 original names"
}

# chk_pkg_names: every binary and the original's names print the package's
# version: packaging/version.sh makes the package's version of the one the
# binaries print, so each --version's must map to it.
chk_pkg_names() {
	local n out v want got=
	want=$(nsenter_ct dpkg-query -W -f='${Version}' kk)
	for n in kk-monitor kk-firewall kk-client knockknock knockknock-proxy knockknock-daemon knockknock-genprofile; do
		out=$(nsenter_ct "$n" --version 2>&1) || { echo "$n --version failed: $out"; return 1; }
		v=$(grep -o ' v[^ ]*' <<<"$out" | head -n 1)
		v=$(bash "$top/packaging/version.sh" --deb "${v# }" 2>&1)
		[ "$v" = "$want" ] || { echo "$n --version says '$out', not the package's $want"; return 1; }
		got+="${got:+, }$n"
	done
	echo "$got: version $want"
}

# chk_pkg_man: man finds every page of the package, and the original's names.
chk_pkg_man() {
	local p out n=0
	for p in kk-monitor kk-firewall kk-client "5 knockknock.conf" knockknock knockknock-proxy knockknock-daemon knockknock-genprofile; do
		# shellcheck disable=SC2086 # "5 knockknock.conf" is two words
		out=$(nsenter_ct env MANWIDTH=100 man $p 2>&1) || { echo "man $p failed: $(head -n 3 <<<"$out")"; return 1; }
		grep -q '^NAME' <<<"$out" && grep -q '^SYNOPSIS' <<<"$out" || { echo "man $p has no NAME and SYNOPSIS: $(head -n 5 <<<"$out")"; return 1; }
		n=$((n + 1))
	done
	echo "$n pages render, each with NAME and SYNOPSIS"
}

# chk_pkg_condition: with no profile, starting kk's units succeeds but runs
# nothing: ConditionDirectoryNotEmpty skips them.
chk_pkg_condition() {
	local u st res
	nsenter_ct systemctl start "${UNITS[@]}" || { echo "systemctl start failed"; return 1; }
	for u in "${UNITS[@]}"; do
		st=$(nsenter_ct systemctl is-active "$u" 2>&1) || true
		res=$(nsenter_ct systemctl show -P ConditionResult "$u")
		[ "$st" = inactive ] && [ "$res" = no ] || { echo "$u is $st (ConditionResult=$res) with no profile"; return 1; }
	done
	if in_s iptables -S KK_INPUT >/dev/null 2>&1; then echo "kk's rules were loaded with no profile"; return 1; fi
	echo "${UNITS[*]}: inactive, ConditionResult=no, no rules"
}

# chk_pkg_upgrade: installing the package again over a running kk (dpkg
# runs postinst as for an upgrade) restarts kk-monitor on the new files,
# reloads the rules in place, gives the new kk-client its capability and
# keeps the keys.
chk_pkg_upgrade() {
	local pid0 pid1 u st
	pid0=$(nsenter_ct systemctl show -P MainPID kk-monitor.service)
	nsenter_ct env DEBIAN_FRONTEND=noninteractive apt install -y --reinstall "/root/${DEB##*/}" >"$work/apt-reinstall.log" 2>&1 ||
		{ tail -n 15 "$work/apt-reinstall.log"; return 1; }
	pid1=$(nsenter_ct systemctl show -P MainPID kk-monitor.service)
	[ "$pid1" -gt 0 ] && [ "$pid1" != "$pid0" ] || { echo "kk-monitor's pid $pid0 -> $pid1: not restarted"; return 1; }
	for u in "${UNITS[@]}"; do
		st=$(nsenter_ct systemctl is-active "$u") || true
		[ "$st" = active ] || { echo "$u is $st after the upgrade"; return 1; }
	done
	in_s iptables -S KK_INPUT 2>/dev/null | grep -q -- "--dport $KNOCK_PORT -j KK_KNOCKLOG" || { echo "the knock port's LOG rule is gone after the upgrade"; return 1; }
	nsenter_ct getcap /usr/bin/kk-client | grep -q 'cap_net_raw=ep' || { echo "the new kk-client has no cap_net_raw+ep"; return 1; }
	nsenter_ct test -s "$PROFILE_DIR_CT/cipher.key" || { echo "the upgrade lost $PROFILE_DIR_CT/cipher.key"; return 1; }
	echo "kk-monitor restarted (pid $pid0 -> $pid1), units active, knock port rule in place, cap_net_raw=ep, keys kept"
}

# chk_pkg_remove: apt remove with kk running stops it (prerm), removes the
# chains and binaries, and keeps the config and the profile's keys.
chk_pkg_remove() {
	local st u
	for u in "${UNITS[@]}"; do
		st=$(nsenter_ct systemctl is-active "$u") || true
		[ "$st" = active ] || { echo "$u is $st before the remove"; return 1; }
	done
	nsenter_ct env DEBIAN_FRONTEND=noninteractive apt remove -y kk >"$work/apt-remove.log" 2>&1 ||
		{ tail -n 15 "$work/apt-remove.log"; return 1; }
	for u in "${UNITS[@]}"; do
		st=$(nsenter_ct systemctl is-active "$u") || true
		[ "$st" != active ] || { echo "$u still active after apt remove"; return 1; }
	done
	if in_s iptables -S KK_INPUT >/dev/null 2>&1; then echo "KK_INPUT still there after apt remove"; return 1; fi
	if in_s iptables -S KNOCKKNOCK >/dev/null 2>&1; then echo "KNOCKKNOCK still there after apt remove"; return 1; fi
	nsenter_ct test ! -e /usr/bin/kk-monitor || { echo "/usr/bin/kk-monitor still there"; return 1; }
	nsenter_ct test -s "$PROFILE_DIR_CT/cipher.key" || { echo "apt remove deleted $PROFILE_DIR_CT/cipher.key"; return 1; }
	nsenter_ct test -f /etc/knockknock.d/config || { echo "apt remove deleted the conffile /etc/knockknock.d/config"; return 1; }
	echo "units inactive, kk's chains gone, binaries gone, $PROFILE_DIR_CT/cipher.key and the config kept ($(nsenter_ct dpkg-query -W -f='${Status}' kk))"
}

# chk_pkg_purge: apt purge removes the keys, the counters and the log, says
# so, and leaves no trace in dpkg.
chk_pkg_purge() {
	local d out
	nsenter_ct env DEBIAN_FRONTEND=noninteractive apt purge -y kk >"$work/apt-purge.log" 2>&1 ||
		{ tail -n 15 "$work/apt-purge.log"; return 1; }
	for d in /etc/knockknock.d /var/lib/knockknock /var/log/knockknock; do
		nsenter_ct test ! -e "$d" || { echo "$d still there after apt purge"; return 1; }
		grep -q "purge removed $d" "$work/apt-purge.log" || { echo "apt purge did not say it removed $d: $(tail -n 5 "$work/apt-purge.log")"; return 1; }
	done
	out=$(nsenter_ct dpkg-query -W -f='${Status}' kk 2>&1) || true
	case "$out" in *not-installed* | *"no packages found"*) ;; *) echo "dpkg still knows kk: $out"; return 1 ;; esac
	nsenter_ct test ! -e /etc/rsyslog.d/30-knockknock.conf || { echo "the rsyslog conffile survived the purge"; return 1; }
	echo "/etc/knockknock.d, /var/lib/knockknock, /var/log/knockknock and the conffiles gone; $(grep -c 'purge removed' "$work/apt-purge.log") 'purge removed' lines"
}

# The EXAMPLES of kk-monitor(8), followed as a newcomer would.

# examples prints the EXAMPLES block of the installed kk-monitor(8), as man
# renders it: from its first "# on" line to the next blank line, unindented.
examples() {
	nsenter_ct env MANWIDTH=250 man kk-monitor 2>/dev/null | awk '
		/^EXAMPLES/ { ex = 1; next }
		ex && /^[A-Z]/ { exit }
		ex && /^[[:space:]]+# on / { on = 1 }
		on && /^[[:space:]]*$/ { exit }
		on { sub(/^[[:space:]]+/, ""); print }'
}

# as_client runs a command as the client's user (CLIENT_UID, home
# $work/home) in the client's namespace, with the package's kk-client first
# on PATH; /etc/netns/$NS_C/hosts names the server as the EXAMPLES do.
as_client() {
	in_c setpriv --reuid="$CLIENT_UID" --regid="$CLIENT_UID" --clear-groups \
		env -i HOME="$work/home" PATH="$bindir:/usr/bin:/bin" SCP_ROOT="$work/scp" LANG=C.UTF-8 "$@"
}

# chk_example_step WHERE STEPS runs one part of the EXAMPLES where its "# on"
# line says: as root in the container, or as the client's user. The client's
# scp from root@server is a copy of the server's profiles, staged readable for
# that user as scp as root would read them. Output: $work/example.out.
chk_example_step() {
	local where=$1 steps=$2 rc
	case "$where" in
	"# on the server, as root"*)
		nsenter_ct bash -euxc "$steps" >"$work/example.out" 2>&1 && rc=0 || rc=$?
		;;
	"# on the client"*)
		rm -rf "$work/scp"
		mkdir -p "$work/scp/etc/knockknock.d"
		cp -r "$CT_ROOT/etc/knockknock.d/profiles" "$work/scp/etc/knockknock.d/"
		chmod -R a+rX "$work/scp"
		as_client bash -euxc "scp() { cp \$SCP_ROOT\${1#*:} \"\$2\"; }
$steps" >"$work/example.out" 2>&1 && rc=0 || rc=$?
		;;
	*) echo "no rule for where to run '$where'"; return 1 ;;
	esac
	[ "$rc" -eq 0 ] || { echo "exit $rc:"; tail -n 12 "$work/example.out"; return 1; }
	grep -v '^+' "$work/example.out" | tail -n 2
}

# follow_examples runs the EXAMPLES of the installed kk-monitor(8) one part
# at a time, then checks what they promise: kk-firewall list shows the
# knock's opening, and a real connection to the port the client knocked for
# gets through. It sets PROFILE_NAME, KNOCK_PORT, EX_HOST and EX_PORT from
# the steps.
follow_examples() {
	local steps where= part= line client
	steps=$(examples)
	[ -n "$steps" ] || { fail "the installed man kk-monitor has no EXAMPLES block with '# on' lines"; return; }
	say "EXAMPLES of the installed kk-monitor(8):"
	printf '%s\n' "$steps" | sed 's/^/   $ /'
	read -r KNOCK_PORT PROFILE_NAME < <(sed -nE 's/^kk-monitor genprofile ([0-9]+) ([^ ]+)$/\1 \2/p' <<<"$steps") || true
	client=$(grep -m1 '^kk-client ' <<<"$steps") || true
	EX_HOST=$(sed -nE 's/.* -s ([^ ]+).*/\1/p' <<<"$client")
	EX_PORT=$(sed -nE 's/.* -p ([0-9]+).*/\1/p' <<<"$client")
	[ -n "$PROFILE_NAME" ] && [ -n "$EX_HOST" ] && [ -n "$EX_PORT" ] ||
		{ fail "EXAMPLES: no 'kk-monitor genprofile PORT NAME' or 'kk-client -p PORT -s HOST' line"; return; }
	PROFILE_DIR_CT=/etc/knockknock.d/profiles/$PROFILE_NAME
	mkdir -p "/etc/netns/$NS_C"
	echo "$SERVER_IP $EX_HOST" >"/etc/netns/$NS_C/hosts"
	mkdir -m 0700 "$work/home"
	chown "$CLIENT_UID:$CLIENT_UID" "$work/home"
	# Not through in_s: $! must be socat's own pid, for cleanup to kill it.
	ip netns exec "$NS_S" socat "TCP-LISTEN:$EX_PORT,fork,reuseaddr" SYSTEM:'echo kk-service-reached' &
	EX_SERVICE_PID=$!
	while IFS= read -r line; do
		case "$line" in
		"# on "*)
			run_part "$where" "$part"
			where=$line part=
			;;
		*) part+=$line$'\n' ;;
		esac
	done <<<"$steps"
	run_part "$where" "$part"
	check "EXAMPLES: kk-firewall list shows the knock's opening for $CLIENT_IP port $EX_PORT" chk_example_list
	check "EXAMPLES: a TCP connection to $EX_HOST port $EX_PORT gets through" connect_to "$EX_PORT"
}

# run_part runs one part of the EXAMPLES, as one check line; the part a
# package already did (its "# on" line says after make install) is skipped,
# and chk_pkg_installed proved what it does.
run_part() {
	local where=$1 part=$2
	[ -n "$part" ] || return 0
	case "$where" in
	*"after make install"*) say "EXAMPLES: skipped (the package did it): ${part//$'\n'/; }"; return 0 ;;
	esac
	check "EXAMPLES ${where#\# } ${part//$'\n'/; }" chk_example_step "$where" "$part"
}

chk_example_list() {
	local out
	out=$(cat "$work/example.out")
	grep -Eq "^$CLIENT_IP +ipv4 +tcp +$EX_PORT +$PROFILE_NAME " <<<"$out" || { echo "no opening for $CLIENT_IP port $EX_PORT in: $out"; return 1; }
	[ "$(nsenter_ct systemctl is-active kk-firewall.service)" = active ] || { echo "kk-firewall.service is not active"; return 1; }
	grep -E "^$CLIENT_IP " <<<"$out"
}

connect_to() {
	in_c socat -T 3 - "TCP:$SERVER_IP:$1,connect-timeout=3" </dev/null 2>/dev/null | grep -q kk-service-reached ||
		{ echo "no answer from $SERVER_IP:$1"; return 1; }
	echo "the service on $SERVER_IP:$1 answered"
}
