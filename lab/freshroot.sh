#!/usr/bin/env bash
# freshroot.sh: README's two commands, run as a newcomer would, in a minimal
# Debian 12 root that has never seen kk: a clean clone of the commit under
# test, then `make demo`, then `make test` (without a nested fresh-root run),
# then README's "Install from the package" commands and a smoke check of the
# installed package (lab/pkgsmoke.sh).
#
# The root is built with mmdebstrap --variant=apt plus what a fresh machine of
# this kind already has (make, git), and cached in $KK_FRESHROOT_CACHE between
# runs; it holds nothing that lab/deps.sh installs, and it is never written:
# systemd-nspawn --volatile=overlay keeps every change in a tmpfs that is gone
# when the container stops. Bound in is only what a fresh machine here has:
# the Go toolchain at /usr/local/go and the CA bundle in /etc/ssl/certs (a
# copy of the host's).
#
# The lab inside needs --capability=all (iptables, namespaces), /dev/kmsg
# (rsyslogd's kernel input), --timezone=off and a writable /proc/sys
# (net.netfilter.nf_log_all_netns): the container's needs, not install steps.
#
# Usage: lab/freshroot.sh [COMMIT]   (as root; COMMIT defaults to HEAD)
# Environment: KK_FRESHROOT_CACHE (default /var/cache/kk/freshroot),
# KK_FRESHROOT_TIMEOUT (seconds, default 3000), KK_FRESHROOT_KEEP=1 keeps the clone.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
commit=${1:-HEAD}
cache=${KK_FRESHROOT_CACHE:-/var/cache/kk/freshroot}
limit=${KK_FRESHROOT_TIMEOUT:-3000}
suite=bookworm
# A fresh machine here has make and git; the root gets those and nothing else.
include=make,git
key="$suite-apt-${include//,/-}"

say() { printf 'freshroot: %s\n' "$*"; }
die() { printf 'freshroot: FAIL %s\n' "$*" >&2; exit 1; }

preflight() {
	[ "$(id -u)" -eq 0 ] || die "needs root (mmdebstrap, systemd-nspawn): run sudo make test"
	command -v mmdebstrap >/dev/null || die "mmdebstrap not found: apt-get install mmdebstrap (bash lab/deps.sh test installs it)"
	command -v systemd-nspawn >/dev/null || die "systemd-nspawn not found: apt-get install systemd-container (bash lab/deps.sh test installs it)"
	[ -x /usr/local/go/bin/go ] || die "no Go toolchain at /usr/local/go: the fresh root binds the host's"
	[ -e /dev/kmsg ] || die "no /dev/kmsg: the lab's rsyslogd reads kernel messages from it"
	[ "${KK_FRESHROOT:-}" != inside ] || die "already inside a fresh root: no nested run"
}

# base_root prints the cached root's path, building it first if needed. A
# half-built root never lands in the cache: it is built aside and renamed.
base_root() {
	local dir=$cache/$key tmp
	if [ -x "$dir/usr/bin/make" ] && [ -x "$dir/usr/bin/git" ]; then
		echo "$dir"
		return
	fi
	mkdir -p "$cache"
	tmp=$(mktemp -d "$cache/.build.XXXXXX")
	say "building a minimal Debian 12 root (mmdebstrap --variant=apt --include=$include) in $dir" >&2
	if ! mmdebstrap --quiet --variant=apt --include="$include" "$suite" "$tmp" >&2; then
		rm -rf "$tmp"
		die "mmdebstrap failed (is deb.debian.org reachable?)"
	fi
	rm -rf "$dir"
	mv "$tmp" "$dir"
	echo "$dir"
}

# clone makes a clean clone of the commit under test, outside the checkout.
clone() {
	local rev
	rev=$(git -C "$top" rev-parse --verify "$commit^{commit}") || die "no commit $commit in $top"
	git clone --quiet --no-local --no-checkout "$top" "$work/kk"
	git -C "$work/kk" checkout --quiet --detach "$rev"
	say "clean clone of $rev in $work/kk"
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "${NSPAWN_PID:-}" ] && kill -0 "$NSPAWN_PID" 2>/dev/null; then
		say "stopping the container"
		kill -TERM "$NSPAWN_PID" 2>/dev/null || true
		for _ in $(seq 150); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.2; done
		pkill -KILL -P "$NSPAWN_PID" 2>/dev/null || true
		kill -KILL "$NSPAWN_PID" 2>/dev/null || true
		wait "$NSPAWN_PID" 2>/dev/null || true
	fi
	# The lab inside sets this host-wide sysctl; a killed lab cannot restore it.
	[ -z "${OLD_LOG_ALL:-}" ] || echo "$OLD_LOG_ALL" >/proc/sys/net/netfilter/nf_log_all_netns
	if [ -n "${work:-}" ] && [ "${KK_FRESHROOT_KEEP:-}" != 1 ]; then rm -rf "$work"; fi
	exit "$rc"
}

run_inside() {
	local root=$1 t0 rc=0 d pkgroots=()
	t0=$SECONDS
	# The CA bundle as a copy the root may write: installing ca-certificates
	# there (lintian pulls it in) rewrites /etc/ssl/certs, and the host's
	# must not change.
	cp -rL /etc/ssl/certs "$work/certs"
	# make test's package check boots a cached Debian root; the host's copy
	# (built by its own make test) is lent read-only, as the fresh root's
	# own cache is: a test root, not something kk installs.
	for d in /var/cache/kk/pkgroot/bookworm-*; do
		[ -f "$d/.kk-include" ] && pkgroots+=(--bind-ro="$d")
	done
	# The inner script is README's two commands, as a newcomer types them.
	# It runs in the background so that a signal reaches the traps at once
	# (bash runs them only after a foreground command ends).
	SYSTEMD_NSPAWN_API_VFS_WRITABLE=1 timeout -k 30 "$limit" \
		systemd-nspawn --quiet --register=no --keep-unit --directory="$root" \
		--volatile=overlay --capability=all --bind=/dev/kmsg --timezone=off \
		--bind-ro=/usr/local/go --bind="$work/certs:/etc/ssl/certs" \
		--bind="$work/kk:/root/kk" --chdir=/root/kk \
		--setenv=CI=true --setenv=KK_FRESHROOT=inside --setenv=HOME=/root \
		--setenv=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		"${pkgroots[@]}" \
		-- /bin/bash -euc 'make demo </dev/null && make test </dev/null && bash lab/pkgsmoke.sh </dev/null' </dev/null &
	NSPAWN_PID=$!
	wait "$NSPAWN_PID" || rc=$?
	NSPAWN_PID=
	say "README's two commands in the fresh root: exit $rc after $((SECONDS - t0)) s"
	return "$rc"
}

main() {
	preflight
	OLD_LOG_ALL=$(cat /proc/sys/net/netfilter/nf_log_all_netns 2>/dev/null || true)
	work=$(mktemp -d /tmp/kk-freshroot.XXXXXX)
	chmod 0755 "$work"
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	local root
	root=$(base_root)
	clone
	run_inside "$root" || die "make demo / make test failed in a fresh Debian 12 root (output above)"
	say "PASS make demo and make test in a fresh Debian 12 root"
}

main
