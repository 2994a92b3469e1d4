#!/usr/bin/env bash
# realsystemd.sh: kk's units under a real systemd, installed and enabled the
# way README says, and a real knock through them.
#
# It stages `make install DESTDIR=...`, boots this machine's /usr in a
# systemd-nspawn container (--volatile=yes: /etc and /var start empty, as on
# a machine that never ran kk) with the staged /usr/local and /etc/knockknock.d
# bound in, inside a network namespace of its own, and runs README's
# post-install commands exactly as written there (without sudo: the script is
# root). Then it proves:
#   - every unit reaches active, kk-monitor runs as knockknock with CapEff 0;
#   - on a stock Debian (no rsyslog running, no kern.log) log_source = auto
#     picks journald and says why, and its journalctl runs without error;
#   - with rsyslog writing kern.log, auto picks the file, and a knock from a
#     client namespace socket-activates kk-firewall and a TCP connection gets
#     through;
#   - the rule is gone after delay; systemctl reload kk-monitor keeps it active;
#   - the three units' journal has no error, and an error the monitor logs is
#     at priority err in the journal (journalctl -p err);
#   - systemctl stop removes the KNOCKKNOCK chain and kk's own chains.
#
# With journald it checks that kk-monitor's journalctl runs in the unit's
# sandbox without error; the knock itself travels rsyslog's way (imkmsg on the
# bound /dev/kmsg -> /var/log/kern.log), as lib/realsystemd_checks.sh explains.
#
# With --deb FILE it tests the Debian package instead (make package-test):
# a cached minimal Debian 12 root with systemd, rsyslog and kk's other
# dependencies (mmdebstrap, in $KK_PKGROOT_CACHE) boots with a writable
# overlay (--volatile=overlay: the cache is never written), and then
#   - `apt install ./kk_*.deb`: the user exists, kk-client has cap_net_raw,
#     the original's command names run, the units are enabled but nothing
#     runs, and starting a unit before a profile exists is skipped by its
#     ConditionDirectoryNotEmpty;
#   - issue 13's "done": the EXAMPLES of the installed `man kk-monitor`,
#     run part by part where their "# on" lines say (the server's as root in
#     the container; the client's as an unprivileged user in the client's
#     namespace, with the package's kk-client, the server's name in
#     /etc/netns/NS/hosts and scp standing for a copy of the profile): a
#     profile is made, kk started and checked, the client knocks, and
#     `kk-firewall list` shows the opening, and a real TCP connection to the
#     port it knocked for gets through;
#   - the same checks as above on that profile, with rsyslog running from
#     the start as the package's Recommends install it;
#   - with kk running, installing the package again restarts kk on the new
#     files and keeps its rules, capability and keys;
#   - with kk running, `apt remove` stops it and removes kk's chains, keeps
#     /etc/knockknock.d and the keys; `apt purge` removes them, and
#     /var/lib/knockknock and /var/log/knockknock, and says so.
#
# Usage: lab/realsystemd.sh [BINDIR]          (as root; BINDIR defaults to ./bin)
#        lab/realsystemd.sh --deb DEB         (the package; make package-test)
# Everything it creates (container, namespaces, veths, temp files) is removed
# on exit, failure and Ctrl-C; the host's units and firewall are not touched.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
DEB=
if [ "${1:-}" = --deb ]; then
	DEB=$(realpath "${2:?usage: realsystemd.sh --deb DEB}")
	[ -f "$DEB" ] || { echo "realsystemd: no package $DEB: run make package" >&2; exit 1; }
	bindir=
else
	bindir=$(cd "${1:-$top/bin}" && pwd)
fi
# The package test's root: a minimal Debian 12 with what kk depends on and
# recommends, and what the checks run inside (ps, man).
pkgroot_cache=${KK_PKGROOT_CACHE:-/var/cache/kk/pkgroot}
pkgroot_include=systemd,systemd-sysv,dbus,rsyslog,logrotate,iptables,iproute2,libcap2-bin,procps,man-db,groff-base
SERVER_IP=10.203.0.1
CLIENT_IP=10.203.0.2
SERVICE_PORT=2222
# The package test's client user: no account, a home in the work directory.
CLIENT_UID=4343
DELAY=5
. "$here/lib/check.sh"

say() { printf 'realsystemd: %s\n' "$*"; }
die() { printf 'realsystemd: FAIL %s\n' "$*" >&2; exit 1; }

# wait_until SECONDS CMD... polls CMD every 100 ms until it succeeds.
wait_until() {
	local end=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.1
	done
}

preflight() {
	[ "$(id -u)" -eq 0 ] || die "needs root (systemd-nspawn, network namespaces): run sudo make test"
	command -v systemd-nspawn >/dev/null || die "systemd-nspawn not found: apt-get install systemd-container (bash lab/deps.sh test installs it)"
	local c
	for c in nsenter ip iptables nft socat rsyslogd setpriv; do
		command -v "$c" >/dev/null || die "$c not found: run bash lab/deps.sh test"
	done
	if [ -n "$DEB" ]; then
		command -v mmdebstrap >/dev/null || die "mmdebstrap not found: run bash lab/deps.sh test"
	else
		for c in kk-monitor kk-firewall kk-client; do
			[ -x "$bindir/$c" ] || die "$bindir/$c missing: run make build"
		done
	fi
	[ -d /etc/alternatives ] || die "no /etc/alternatives: iptables is found through it"
	[ -e /proc/sys/net/netfilter/nf_log_all_netns ] || die "the kernel has no net.netfilter.nf_log_all_netns: LOG in a namespace needs it"
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "${NSPAWN_PID:-}" ] && kill -0 "$NSPAWN_PID" 2>/dev/null; then
		kill -TERM "$NSPAWN_PID" 2>/dev/null || true
		for _ in $(seq 100); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$NSPAWN_PID" 2>/dev/null || true
		wait "$NSPAWN_PID" 2>/dev/null || true
	fi
	[ -z "${SERVICE_PID:-}" ] || kill "$SERVICE_PID" 2>/dev/null || true
	[ -z "${EX_SERVICE_PID:-}" ] || kill "$EX_SERVICE_PID" 2>/dev/null || true
	[ -z "${NS_C:-}" ] || rm -rf "/etc/netns/$NS_C"
	[ -z "${PKG_DIR:-}" ] || rm -rf "$PKG_DIR"
	[ -z "${NS_S:-}" ] || ip netns del "$NS_S" 2>/dev/null || true
	[ -z "${NS_C:-}" ] || ip netns del "$NS_C" 2>/dev/null || true
	[ -z "${OLD_LOG_ALL:-}" ] || echo "$OLD_LOG_ALL" >/proc/sys/net/netfilter/nf_log_all_netns
	if [ -n "${work:-}" ]; then
		if [ "$rc" -ne 0 ] && [ -f "$work/console.log" ]; then
			say "container console (last 40 lines):"
			tail -n 40 "$work/console.log" | sed 's/^/   | /'
		fi
		rm -rf "$work"
	fi
	exit "$rc"
}

setup_net() {
	local tag=${work##*.}
	NS_S=kksd-s-$tag
	NS_C=kksd-c-$tag
	ip netns add "$NS_S"
	ip netns add "$NS_C"
	ip link add "kss$tag" netns "$NS_S" type veth peer name "ksc$tag" netns "$NS_C"
	ip -n "$NS_S" addr add "$SERVER_IP/24" dev "kss$tag"
	ip -n "$NS_C" addr add "$CLIENT_IP/24" dev "ksc$tag"
	ip -n "$NS_S" link set lo up
	ip -n "$NS_C" link set lo up
	ip -n "$NS_S" link set "kss$tag" up
	ip -n "$NS_C" link set "ksc$tag" up
	OLD_LOG_ALL=$(cat /proc/sys/net/netfilter/nf_log_all_netns)
	echo 1 >/proc/sys/net/netfilter/nf_log_all_netns
	# The service the knock protects, in the server's namespace.
	ip netns exec "$NS_S" socat "TCP-LISTEN:$SERVICE_PORT,fork,reuseaddr" SYSTEM:'echo kk-service-reached' &
	SERVICE_PID=$!
}

# stage installs kk into $work/dest as a package would, with the script
# behind make install (make would rebuild bin/ first; BINDIR is built).
stage() {
	DESTDIR="$work/dest" PREFIX=/usr/local bash "$top/systemd/install.sh" install "$bindir" >"$work/install.log" 2>&1 ||
		die "make install DESTDIR=$work/dest failed: $(tail -5 "$work/install.log")"
	sed -i "s/^delay = .*/delay = $DELAY/" "$work/dest/etc/knockknock.d/config"
	grep -qx "delay = $DELAY" "$work/dest/etc/knockknock.d/config" || die "the shipped config has no delay line to shorten"
	[ -f "$work/dest/etc/rsyslog.d/30-knockknock.conf" ] || die "make install staged no /etc/rsyslog.d/30-knockknock.conf"
	write_rsyslog_conf
	write_nftables_conf
}

# write_nftables_conf writes Debian's default /etc/nftables.conf, which the
# host's nftables.service loads at the container's boot as on a server that
# enabled it: it starts with "flush ruleset", which kk's rules must survive.
write_nftables_conf() {
	cat >"$work/nftables.conf" <<'EOF'
#!/usr/sbin/nft -f

flush ruleset

table inet filter {
	chain input {
		type filter hook input priority filter;
	}
	chain forward {
		type filter hook forward priority filter;
	}
	chain output {
		type filter hook output priority filter;
	}
}
EOF
}

write_rsyslog_conf() {
	# Debian's rsyslog.conf as far as the kernel goes, with the kernel read
	# from /dev/kmsg (imklog's /proc/kmsg is not there in a container), and
	# /etc/rsyslog.d where make install put kk's rule.
	cat >"$work/rsyslog.conf" <<'EOF'
module(load="imkmsg")
$IncludeConfig /etc/rsyslog.d/*.conf
kern.* action(type="omfile" file="/var/log/kern.log" fileCreateMode="0640" fileGroup="adm")
EOF
}

# pkg_root prints the package test's cached root, building it first if needed;
# the cache key names the packages, so a new list builds a new root. A
# half-built root never lands in the cache: it is built aside and renamed.
pkg_root() {
	local dir tmp
	dir=$pkgroot_cache/bookworm-$(md5sum <<<"$pkgroot_include" | cut -c1-12)
	if [ -x "$dir/usr/lib/systemd/systemd" ] && [ -f "$dir/.kk-include" ]; then
		echo "$dir"
		return
	fi
	mkdir -p "$pkgroot_cache"
	tmp=$(mktemp -d "$pkgroot_cache/.build.XXXXXX")
	say "building a Debian 12 root with systemd (mmdebstrap --include=$pkgroot_include) in $dir" >&2
	if ! mmdebstrap --quiet --variant=apt --include="$pkgroot_include" bookworm "$tmp" >&2; then
		rm -rf "$tmp"
		die "mmdebstrap failed (is deb.debian.org reachable?)"
	fi
	echo "$pkgroot_include" >"$tmp/.kk-include"
	rm -rf "$dir"
	mv "$tmp" "$dir"
	echo "$dir"
}

# stage_deb prepares the package test: the package's own kk-client for the
# client side (dpkg-deb -x keeps no file capability, so it gets it here, as
# postinst does), and rsyslog's configuration as in stage.
stage_deb() {
	# Not under /tmp: where that is a nosuid mount (the fresh root's is),
	# exec ignores file capabilities, and the client's user could not knock.
	PKG_DIR=$(mktemp -d /var/tmp/kk-realsystemd-pkg.XXXXXX)
	chmod 0755 "$PKG_DIR"
	dpkg-deb -x "$DEB" "$PKG_DIR" || die "dpkg-deb -x $DEB failed"
	bindir=$PKG_DIR/usr/bin
	setcap cap_net_raw+ep "$bindir/kk-client"
	write_rsyslog_conf
}

# boot_deb boots the cached root with a writable overlay and the package
# bound in at /root.
boot_deb() {
	local root
	root=$(pkg_root)
	systemd-nspawn --quiet --register=no --keep-unit --directory="$root" --volatile=overlay -b \
		--machine="kk-${work##*.}" --network-namespace-path="/run/netns/$NS_S" \
		--capability=CAP_NET_ADMIN,CAP_SYSLOG --timezone=off --bind=/dev/kmsg \
		--bind-ro="$DEB:/root/$(basename "$DEB")" \
		--bind-ro="$work/rsyslog.conf:/etc/rsyslog.conf" \
		-- systemd.firstboot=off "${MASK[@]}" </dev/null >"$work/console.log" 2>&1 &
	NSPAWN_PID=$!
	wait_booted
}

boot() {
	# The container joins its own network namespace; nspawn grants CAP_NET_ADMIN
	# only for a network it made itself, so it is asked for here. CAP_SYSLOG
	# lets the container's rsyslogd read the bound /dev/kmsg.
	systemd-nspawn --quiet --register=no --keep-unit --directory=/ --volatile=yes -b \
		--machine="kk-${work##*.}" --network-namespace-path="/run/netns/$NS_S" \
		--capability=CAP_NET_ADMIN,CAP_SYSLOG \
		--bind-ro=/etc/alternatives --bind=/dev/kmsg \
		--bind="$work/dest/usr/local:/usr/local" \
		--bind="$work/dest/etc/knockknock.d:/etc/knockknock.d" \
		--bind-ro="$work/rsyslog.conf:/etc/rsyslog.conf" \
		--bind-ro="$work/dest/etc/rsyslog.d:/etc/rsyslog.d" \
		--bind-ro="$work/dest/etc/logrotate.d:/etc/logrotate.d" \
		--bind-ro="$work/nftables.conf:/etc/nftables.conf" \
		-- systemd.firstboot=off "${MASK[@]}" </dev/null >"$work/console.log" 2>&1 &
	NSPAWN_PID=$!
	wait_booted
}

# wait_booted waits for the container's systemd to reach running.
wait_booted() {
	wait_until 30 leader || die "no systemd started in the container within 30 s"
	LEADER=$(leader)
	wait_until 30 nsenter_ct test -S /run/systemd/private || die "the container's systemd opened no bus within 30 s"
	local state
	state=$(nsenter_ct timeout 120 systemctl is-system-running --wait 2>&1) || true
	case "$state" in
	running) say "container booted (systemd pid $LEADER on the host)" ;;
	*) die "container's systemd is '$state': $(nsenter_ct systemctl --failed --no-legend --plain 2>&1 | tr '\n' ';')" ;;
	esac
}

# leader prints the host pid of the container's systemd.
leader() {
	local p
	for p in $(pgrep -P "$NSPAWN_PID"); do
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = systemd ] && { echo "$p"; return 0; }
		for c in $(pgrep -P "$p"); do
			[ "$(cat "/proc/$c/comm" 2>/dev/null)" = systemd ] && { echo "$c"; return 0; }
		done
	done
	return 1
}

# nsenter_ct runs a command inside the container, as root.
nsenter_ct() {
	nsenter --target "$LEADER" --mount --uts --ipc --net --pid --root --wd -- \
		env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"
}

# post_install runs README's post-install block, minus make install and sudo.
post_install() {
	local cmds
	cmds=$(awk '/^<!-- lab\/realsystemd.sh runs/ { on = 1 } on && /^```bash$/ { inblock = 1; next }
		inblock && /^```$/ { exit } inblock { print }' "$top/README.md" |
		grep -v 'make install' | sed -E 's/^sudo //; s/[[:space:]]+#.*$//')
	[ -n "$cmds" ] || die "no post-install block found in README.md"
	say "README's post-install commands:"
	printf '%s\n' "$cmds" | sed 's/^/   $ /'
	nsenter_ct bash -euxc "$cmds" >"$work/post-install.log" 2>&1 ||
		die "README's post-install commands failed: $(tail -n 15 "$work/post-install.log")
$(nsenter_ct journalctl --no-pager -q -n 30 -u knockknock-firewall.service -u kk-firewall.service -u kk-monitor.service)"
}

# pkg_remove_purge runs after the checks: kk running again, the package
# installed over it as an upgrade is, apt remove, then apt purge.
pkg_remove_purge() {
	nsenter_ct systemctl start knockknock-firewall.service kk-firewall.socket kk-monitor.service
	check "apt install --reinstall over a running kk restarts it, keeps rules, capability and keys" chk_pkg_upgrade
	check "apt remove stops kk, removes its chains, keeps /etc/knockknock.d and the keys" chk_pkg_remove
	check "apt purge removes /etc/knockknock.d, /var/lib/knockknock, /var/log/knockknock and says so" chk_pkg_purge
}

main_deb() {
	local t0=$SECONDS
	setup_net
	stage_deb
	boot_deb
	. "$here/lib/realsystemd_checks.sh"
	CT_ROOT=/proc/$LEADER/root
	check "apt install ./$(basename "$DEB") in a Debian 12 root with systemd" chk_pkg_install
	check "after install: user, capability, units enabled, nothing running" chk_pkg_installed
	check "the binaries and the original's names print the package's version" chk_pkg_names
	check "man finds the package's pages and the original's names" chk_pkg_man
	check "no profile: starting the units is skipped by their Condition" chk_pkg_condition
	# Issue 13's "done": a newcomer follows man kk-monitor from the package
	# to a knock's opening.
	follow_examples
	# Then the checks above, with a shorter delay, as an admin edits the
	# conffile, and the client's knocks from the EXAMPLES' profile copy.
	nsenter_ct sed -i "s/^delay = .*/delay = $DELAY/" /etc/knockknock.d/config
	nsenter_ct grep -qx "delay = $DELAY" /etc/knockknock.d/config || die "the package's config has no delay line to shorten"
	nsenter_ct systemctl reload kk-monitor.service
	knock() { as_client kk-client -p "$SERVICE_PORT" -s "$EX_HOST"; }
	run_checks deb
	pkg_remove_purge
	printf '\nrealsystemd (package): %d passed, %d failed, %d s\n' "$PASSED" "$FAILED" "$((SECONDS - t0))"
	[ "$FAILED" -eq 0 ]
}

main() {
	preflight
	work=$(mktemp -d /tmp/kk-realsystemd.XXXXXX)
	CHECK_OUT=$work/check.out
	chmod 0755 "$work"
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	# Units that need an /etc this container does not have; knockd and
	# fwknopd are on the host for the bench (lab/deps.sh bench) and fail
	# without their config, which would leave the container degraded.
	MASK=(systemd.mask=systemd-networkd-wait-online.service systemd.mask=knockd.service systemd.mask=fwknop-server.service)
	if [ -n "$DEB" ]; then
		main_deb
		return
	fi
	local t0=$SECONDS
	setup_net
	stage
	boot
	. "$here/lib/realsystemd_checks.sh"
	CT_ROOT=$work/dest
	# A stock Debian: rsyslog present in /usr but not running, no kern.log.
	nsenter_ct systemctl stop rsyslog.service syslog.socket >/dev/null 2>&1 || true
	nsenter_ct rm -rf /var/log/kern.log /var/log/knockknock
	post_install
	# KK_RS_HOLD=SECONDS: keep the installed container for a look by hand.
	if [ -n "${KK_RS_HOLD:-}" ]; then
		say "holding the container for $KK_RS_HOLD s: nsenter --target $LEADER --all"
		sleep "$KK_RS_HOLD"
	fi
	run_checks
	printf '\nrealsystemd: %d passed, %d failed, %d s\n' "$PASSED" "$FAILED" "$((SECONDS - t0))"
	[ "$FAILED" -eq 0 ]
}

main
