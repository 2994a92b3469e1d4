#!/usr/bin/env bash
# install.sh: `make install` and `make uninstall`.
# Usage: DESTDIR=... PREFIX=... systemd/install.sh install|uninstall [BINDIR]
#
# install puts the binaries in PREFIX/bin, the firewall script in PREFIX/sbin,
# the system units (kk-firewall.socket/.service, kk-monitor.service and
# knockknock-firewall.service, which loads the rules at boot) in
# PREFIX/lib/systemd/system, a preset that keeps them disabled until the
# admin enables them, the proxy user unit in
# PREFIX/lib/systemd/user, sysusers.d and tmpfiles.d files under PREFIX/lib,
# and /etc/knockknock.d/config only if there is none. Units name the binaries
# by their installed path. kk-client gets cap_net_raw+ep so users can knock
# without root. uninstall removes exactly those files and keeps
# /etc/knockknock.d, which holds the keys and counters.
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
	echo "$here/80-kk.preset $prefix/lib/systemd/system-preset/80-kk.preset 0644"
	echo "$here/sysusers.d/knockknock.conf $libdir/sysusers.d/knockknock.conf 0644"
	echo "$here/tmpfiles.d/knockknock.conf $libdir/tmpfiles.d/knockknock.conf 0644"
	return 0
}

do_install() {
	local src dst mode
	while read -r src dst mode; do
		[ -e "$src" ] || { echo "install: $src missing: run make build" >&2; exit 1; }
		install -D -m "$mode" "$src" "$dest$dst"
		# Units name binaries by their installed path.
		case "$dst" in *.service) sed -i "s|/usr/local/bin/|$prefix/bin/|g; s|/usr/local/sbin/|$prefix/sbin/|g" "$dest$dst" ;; esac
		say "$dest$dst"
	done < <(files)
	if [ -e "$dest/etc/knockknock.d/config" ]; then
		say "$dest/etc/knockknock.d/config exists, kept"
	else
		install -D -m 0644 "$here/config.default" "$dest/etc/knockknock.d/config"
		say "$dest/etc/knockknock.d/config"
	fi
	set_cap "$dest$prefix/bin/kk-client"
	next_steps
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
  systemctl daemon-reload
  systemctl enable --now knockknock-firewall.service kk-firewall.socket kk-monitor.service
  # knockknock-firewall.service loads the rules at boot; after adding a profile:
  systemctl reload knockknock-firewall.service kk-monitor.service
NEXT
}

do_uninstall() {
	local src dst mode
	while read -r src dst mode; do
		if [ -e "$dest$dst" ]; then rm -f "$dest$dst" && say "removed $dest$dst"; fi
	done < <(files; echo "- $userunitdir/kk-client-proxy.service -")
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
