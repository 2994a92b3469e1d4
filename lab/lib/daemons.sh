# daemons.sh: the lab's rsyslogd, profile, kk-firewall, kk-monitor and
# kk-client proxy. Sourced by lab.sh.

# start_rsyslog runs an rsyslogd of the lab's own: its own config, pid file,
# work directory and kern.log, all under $T.
#
# It reads the kernel log through imkmsg, i.e. /dev/kmsg. Every reader of
# /dev/kmsg gets its own position in the ring buffer, so this is
# non-destructive: a system rsyslogd or journald keeps receiving every
# message. (imklog would read /proc/kmsg, which hands each message to only one
# reader and so would steal messages from a system logger.) The lab loads no
# imuxsock, so /dev/log is left alone too.
#
# imkmsg starts by replaying the whole ring buffer, which may hold knock lines
# from earlier runs. A marker written to /dev/kmsg (facility user, so it lands
# in other.log, not kern.log) shows when the replay is done; kk-monitor starts
# after that and follows only new lines.
#
# kern.log is written by the rule make install ships,
# systemd/rsyslog.d/30-knockknock.conf, word for word but for the file and
# the template, so the lab runs the product's filter.
start_rsyslog() {
	local rule
	rule=$(sed -e "s|\"/var/log/knockknock/kern.log\"|\"$T/log/kern.log\"|" -e 's|template="RSYSLOG_FileFormat"|template="kkLab"|' \
		"$TOP/systemd/rsyslog.d/30-knockknock.conf")
	grep -qF "file=\"$T/log/kern.log\" template=\"kkLab\"" <<<"$rule" ||
		die "systemd/rsyslog.d/30-knockknock.conf no longer writes /var/log/knockknock/kern.log with RSYSLOG_FileFormat: adapt start_rsyslog"
	cat >"$T/rsyslog.conf" <<EOF
global(workDirectory="$T/rsyslog")
module(load="imkmsg")
# As RSYSLOG_FileFormat, but stamped when rsyslogd received the message, so
# the bench can split knock latency into log write and the rest.
template(name="kkLab" type="string"
         string="%timegenerated:::date-rfc3339% %hostname% %syslogtag%%msg:::sp-if-no-1st-sp%%msg:::drop-last-lf%\n")
$rule
if \$syslogfacility-text != "kern" then {
	action(type="omfile" file="$T/log/other.log" template="kkLab")
}
EOF
	rsyslogd -n -f "$T/rsyslog.conf" -i "$T/rsyslog/rsyslogd.pid" >"$T/log/rsyslogd.out" 2>&1 &
	echo $! >"$T/pid/rsyslog.pid"
	disown $!
	local marker
	marker="kk-lab ready $(basename "$T")"
	echo "$marker" >/dev/kmsg
	wait_until 20 grep -qF "$marker" "$T/log/other.log" ||
		die "the lab's rsyslogd did not log a /dev/kmsg marker within 20 s: $(cat "$T/log/rsyslogd.out")"
	touch "$T/log/kern.log"
	chgrp adm "$T/log/kern.log"
	chmod 0640 "$T/log/kern.log"
}

# write_config writes the monitor's config file, in the installed format.
write_config() {
	cat >"$T/etc/config" <<EOF
[main]
delay = $DELAY
error_window = 20
log_source = file
log_file = $T/log/kern.log
log_prefix = "REJECT "
socket = $SOCK
state_dir = $T/state
EOF
}

# make_profile creates the server profile with genprofile, root's and
# readable by the monitor's group as on a server, makes the monitor's state
# directory (StateDirectory= in the unit) and copies the profile to the
# client, as scp and the chmod 600 after it would.
make_profile() {
	"$BIN/kk-monitor" genprofile --profiles "$T/etc/profiles" --group "$LAB_GROUP" "$KNOCK_PORT" lab >"$T/log/genprofile.out" 2>&1 ||
		die "kk-monitor genprofile failed: $(cat "$T/log/genprofile.out")"
	install -d -m 0700 -o "$LAB_USER" -g "$LAB_GROUP" "$T/state"
	CLIENT_PROFILE=$T/client/home/.knockknock/$SERVER_IP
	mkdir -p "$CLIENT_PROFILE"
	cp "$T/etc/profiles/lab/"* "$CLIENT_PROFILE/"
	chmod 600 "$CLIENT_PROFILE"/*
}

# start_firewall runs kk-firewall in the server namespace under
# systemd-socket-activate, which listens on the socket and execs kk-firewall
# with it (LISTEN_FDS=1) on the first connection, as kk-firewall.socket does.
start_firewall() {
	mkdir -p "$T/run/knockknock"
	chgrp "$LAB_GROUP" "$T/run/knockknock"
	chmod 0750 "$T/run/knockknock"
	rm -f "$SOCK"
	ip netns exec "$NS_S" env PATH="${FW_PATH:-$PATH}" systemd-socket-activate -l "$SOCK" \
		"$BIN/kk-firewall" --allow-user "$LAB_USER" --idle-exit 10m --backend "${KK_LAB_FIREWALL_BACKEND:-auto}" \
		>>"$T/log/kk-firewall.log" 2>&1 &
	echo $! >"$T/pid/firewall.pid"
	disown $!
	wait_until 5 test -S "$SOCK" || die "systemd-socket-activate did not create $SOCK: $(tail -5 "$T/log/kk-firewall.log")"
	# As SocketGroup= and SocketMode=0660 in kk-firewall.socket.
	chgrp "$LAB_GROUP" "$SOCK"
	chmod 0660 "$SOCK"
}

# server_counter prints the next counter kk-monitor accepts for the lab
# profile, as `kk-monitor status` reads it: the larger of the durable
# counter record (written before each opening) and the state counter file,
# which kk-monitor brings up to date a few seconds later.
server_counter() {
	"$BIN/kk-monitor" status --config "$T/etc/config" --profiles "$T/etc/profiles" 2>/dev/null |
		sed -n 's/^profile lab: .*, counter \([0-9][0-9]*\) .*/\1/p' | grep . ||
		{ echo "kk-monitor status did not show the lab profile's counter" >&2; return 1; }
}

# start_monitor runs kk-monitor as the unprivileged lab user with no
# capabilities at all, in the groups the systemd unit gives it.
start_monitor() {
	ip netns exec "$NS_S" setpriv --reuid="$LAB_USER" --regid="$LAB_GROUP" --groups="$LAB_GROUP,adm" \
		--inh-caps=-all --bounding-set=-all --no-new-privs -- \
		env -i PATH=/usr/bin:/bin HOME=/ \
		"$BIN/kk-monitor" --config "$T/etc/config" --profiles "$T/etc/profiles" \
		>>"$T/log/kk-monitor.log" 2>&1 &
	echo $! >"$T/pid/monitor.pid"
	disown $!
	# It follows from the end of the file: give it a moment to open it.
	sleep 1
	pid_alive monitor || die "kk-monitor exited at start: $(tail -5 "$T/log/kk-monitor.log")"
}

# start_proxy runs the knock-aware SOCKS5 proxy in the client namespace.
start_proxy() {
	ip netns exec "$NS_C" env HOME="$T/client/home" "$BIN/kk-client" proxy "$PROXY_PORT" \
		>>"$T/log/kk-client-proxy.log" 2>&1 &
	echo $! >"$T/pid/proxy.pid"
	disown $!
	wait_until 5 in_ns "$NS_C" bash -c "exec 3<>/dev/tcp/127.0.0.1/$PROXY_PORT" ||
		die "kk-client proxy did not listen on 127.0.0.1:$PROXY_PORT: $(tail -5 "$T/log/kk-client-proxy.log")"
}

# knock PORT [NS] sends one knock from the client (or NS) for PORT.
knock() {
	in_ns "${2:-$NS_C}" env HOME="$T/client/home" \
		"$BIN/kk-client" -p "$1" -s "$SERVER_IP" -d "$CLIENT_PROFILE"
}

# rule_present IP PORT reports whether KNOCKKNOCK holds an opening for them.
rule_present() {
	in_ns "$NS_S" iptables -w 5 -S KNOCKKNOCK 2>/dev/null | grep -qE -- "^-A KNOCKKNOCK -s $1/32 .*--dport $2( |$)"
}

rule_absent() { ! rule_present "$@"; }

# rule_deadline IP PORT prints the deadline in the opening's rule comment.
rule_deadline() {
	in_ns "$NS_S" iptables -w 5 -S KNOCKKNOCK | grep -E -- "-s $1/32 .*--dport $2( |$)" |
		sed -nE 's/.*deadline=([0-9T:Z-]+).*/\1/p' | head -1 || true
}

# connect NS tries one HTTP request to the protected service from NS.
connect() {
	in_ns "$1" curl -s --max-time 3 "http://$SERVER_IP:$SERVICE_PORT/" 2>/dev/null | grep -q kk-lab-service
}
