#!/usr/bin/env bash
# install.sh: `make install` and `make uninstall`.
# Usage: DESTDIR=... PREFIX=... systemd/install.sh install|uninstall [BINDIR]
#
# install puts the binaries in PREFIX/bin, the firewall script in PREFIX/sbin,
# the man pages (kk-client.1, knockknock.conf.5, kk-monitor.8, kk-firewall.8,
# from BINDIR/man or MANSRC) in PREFIX/share/man/man{1,5,8},
# the system units (kk-firewall.socket/.service, kk-monitor.service and
# knockknock-firewall.service, which loads the rules at boot) in
# PREFIX/lib/systemd/system, a preset that keeps them disabled until the
# admin enables them, the proxy user unit in
# PREFIX/lib/systemd/user, sysusers.d and tmpfiles.d files under PREFIX/lib,
# and, each only if there is none, /etc/knockknock.d/config, the rsyslog rule
# /etc/rsyslog.d/30-knockknock.conf (kk's kernel log, written from the
# kernel's input only) and /etc/logrotate.d/knockknock. Without DESTDIR and
# with rsyslogd installed it creates that log, empty, so kk-monitor's
# log_source = auto finds it before the first kernel message. Units name the
# binaries by their installed path. The original knockknock's command names
# are symlinks that the binaries dispatch on (argv[0]): knockknock and
# knockknock-proxy in PREFIX/bin name kk-client, knockknock-daemon and
# knockknock-genprofile in PREFIX/sbin name kk-monitor, and their man pages
# are links to kk-client.1 and kk-monitor.8. kk-client gets
# cap_net_raw+ep so users can knock without root. uninstall removes exactly those files, the /etc
# ones only if unchanged, and keeps /etc/knockknock.d, which holds the keys
# and counters, and /var/log/knockknock.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$here/..
action=${1:?usage: install.sh install|uninstall [BINDIR]}
bindir=${2:-$top/bin}
prefix=${PREFIX:-/usr/local}
dest=${DESTDIR:-}
unitdir=${UNITDIR:-$prefix/lib/systemd/system}
userunitdir=${USERUNITDIR:-$prefix/lib/systemd/user}
libdir=$prefix/lib

binaries=(kk-monitor kk-firewall kk-client)
system_units=(kk-firewall.socket kk-firewall.service kk-monitor.service knockknock-firewall.service)
user_units=(kk-client-proxy.service)
# links: "name target", the original's commands as relative symlinks.
# The man pages (make man writes them into BINDIR/man) name the same pages.
mansrc=${MANSRC:-$bindir/man}
mandir=$prefix/share/man
manpages=(kk-client.1 knockknock.conf.5 kk-monitor.8 kk-firewall.8)
links=(
	"$prefix/bin/knockknock kk-client"
	"$prefix/bin/knockknock-proxy kk-client"
	"$prefix/sbin/knockknock-daemon ../bin/kk-monitor"
	"$prefix/sbin/knockknock-genprofile ../bin/kk-monitor"
	"$mandir/man1/knockknock.1 kk-client.1"
	"$mandir/man1/knockknock-proxy.1 kk-client.1"
	"$mandir/man8/knockknock-daemon.8 kk-monitor.8"
	"$mandir/man8/knockknock-genprofile.8 kk-monitor.8"
)

say() { printf '%s: %s\n' "$action" "$*"; }

# files prints "source destination mode" for everything install copies.
files() {
	local f
	for f in "${binaries[@]}"; do echo "$bindir/$f $prefix/bin/$f 0755"; done
	echo "$top/firewall/knockknock-firewall.sh $prefix/sbin/knockknock-firewall.sh 0755"
	for f in "${system_units[@]}"; do echo "$here/$f $unitdir/$f 0644"; done
	for f in "${user_units[@]}"; do
		[ -f "$here/$f" ] && echo "$here/$f $userunitdir/$f 0644"
	done
	for f in "${manpages[@]}"; do echo "$mansrc/$f $mandir/man${f##*.}/$f 0644"; done
	echo "$here/80-kk.preset $prefix/lib/systemd/system-preset/80-kk.preset 0644"
	echo "$here/sysusers.d/knockknock.conf $libdir/sysusers.d/knockknock.conf 0644"
	echo "$here/tmpfiles.d/knockknock.conf $libdir/tmpfiles.d/knockknock.conf 0644"
	return 0
}

# etc_files prints "source destination mode" for the files under /etc that
# install writes only if absent: the admin may have changed them.
etc_files() {
	echo "$here/config.default /etc/knockknock.d/config 0644"
	echo "$here/rsyslog.d/30-knockknock.conf /etc/rsyslog.d/30-knockknock.conf 0644"
	echo "$here/logrotate.d/knockknock /etc/logrotate.d/knockknock 0644"
}

# kklog is the file the rsyslog rule writes and kk-monitor reads by default.
kklog=/var/log/knockknock/kern.log

# create_log creates kklog as the rule would (root:adm 0640), so that
# kk-monitor's log_source = auto picks it from the first start.
create_log() {
	[ -z "$dest" ] && [ -x /usr/sbin/rsyslogd ] && [ ! -e "$kklog" ] || return 0
	install -d -m 0755 "$(dirname "$kklog")"
	install -m 0640 -g adm /dev/null "$kklog"
	say "$kklog (empty; rsyslog appends to it)"
}

do_install() {
	local src dst mode
	while read -r src dst mode; do
		[ -e "$src" ] || { echo "install: $src missing: run make build man" >&2; exit 1; }
		install -D -m "$mode" "$src" "$dest$dst"
		# Units name binaries by their installed path.
		case "$dst" in *.service) sed -i "s|/usr/local/bin/|$prefix/bin/|g; s|/usr/local/sbin/|$prefix/sbin/|g" "$dest$dst" ;; esac
		say "$dest$dst"
	done < <(files)
	while read -r src dst mode; do
		if [ -e "$dest$dst" ]; then
			say "$dest$dst exists, kept"
		else
			install -D -m "$mode" "$src" "$dest$dst"
			say "$dest$dst"
		fi
	done < <(etc_files)
	install_links
	create_log
	set_cap "$dest$prefix/bin/kk-client"
	next_steps
}

# install_links makes the original's command names, replacing only a symlink
# (an older install's): a file there is someone else's.
install_links() {
	local l name target
	for l in "${links[@]}"; do
		read -r name target <<<"$l"
		if [ -e "$dest$name" ] && [ ! -L "$dest$name" ]; then
			echo "install: $dest$name exists and is not a symlink (the original knockknock?): remove it, then run make install again" >&2
			exit 1
		fi
		mkdir -p "$(dirname "$dest$name")"
		ln -sfn "$target" "$dest$name"
		say "$dest$name -> $target"
	done
}

# set_cap gives kk-client the one capability it needs to send a raw SYN.
set_cap() {
	if setcap cap_net_raw+ep "$1" 2>/dev/null; then
		say "setcap cap_net_raw+ep $1"
	elif [ -n "$dest" ]; then
		say "skipped setcap on $1 (DESTDIR set and not permitted here); the package must run: setcap cap_net_raw+ep $prefix/bin/kk-client"
	else
		echo "install: setcap cap_net_raw+ep $1 failed: run make install as root (needs CAP_SETFCAP and the setcap tool from libcap2-bin)" >&2
		exit 1
	fi
}

next_steps() {
	[ -z "$dest" ] || return 0
	cat <<NEXT
install: next, as root:
  systemd-sysusers knockknock.conf && systemd-tmpfiles --create knockknock.conf   # user knockknock, /run/knockknock, profile ownership
  systemctl restart rsyslog.service   # if rsyslog is installed: it loads /etc/rsyslog.d/30-knockknock.conf
  systemctl daemon-reload
  systemctl enable --now knockknock-firewall.service kk-firewall.socket kk-monitor.service
  # knockknock-firewall.service loads the rules at boot; after adding a profile:
  systemctl reload knockknock-firewall.service kk-monitor.service
NEXT
}

do_uninstall() {
	local src dst mode l name target
	while read -r src dst mode; do
		if [ -e "$dest$dst" ]; then rm -f "$dest$dst" && say "removed $dest$dst"; fi
	done < <(files; echo "- $userunitdir/kk-client-proxy.service -")
	for l in "${links[@]}"; do
		read -r name target <<<"$l"
		# Only kk's own link: a knockknock installed there stays.
		if [ -L "$dest$name" ] && [ "$(readlink "$dest$name")" = "$target" ]; then
			rm -f "$dest$name" && say "removed $dest$name"
		fi
	done
	while read -r src dst mode; do
		case "$dst" in /etc/knockknock.d/*) continue ;; esac
		if [ ! -e "$dest$dst" ]; then
			continue
		elif cmp -s "$src" "$dest$dst"; then
			rm -f "$dest$dst" && say "removed $dest$dst"
		else
			say "kept $dest$dst: it differs from kk's; remove it by hand if you mean to"
		fi
	done < <(etc_files)
	say "kept $dest/var/log/knockknock (logs); after removing the rsyslog rule: systemctl restart rsyslog"
	say "kept $dest/etc/knockknock.d (config, profiles and their keys); remove it by hand if you mean to"
	if [ -z "$dest" ]; then
		say "if kk was running, first: systemctl disable --now kk-monitor.service kk-firewall.socket kk-firewall.service knockknock-firewall.service"
	fi
}

if [ -z "$dest" ] && [ "$(id -u)" -ne 0 ]; then
	echo "$action: writing $prefix and /etc needs root: run sudo make $action, or stage with make $action DESTDIR=DIR" >&2
	exit 1
fi
case "$action" in
install) do_install ;;
uninstall) do_uninstall ;;
*) echo "usage: install.sh install|uninstall [BINDIR]" >&2; exit 2 ;;
esac
