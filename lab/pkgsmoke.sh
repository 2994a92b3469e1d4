#!/usr/bin/env bash
# pkgsmoke.sh: README's "Install from the package" commands, run as written
# (without sudo), then a smoke check of what they installed: every binary and
# the original's command names print the package's version, man renders each
# page, kk-client has its capability, and apt purge removes kk again.
# lab/freshroot.sh runs it inside the fresh Debian 12 root after make test,
# where no systemd runs: postinst and postrm must work without one.
# Usage: lab/pkgsmoke.sh   (as root, from the top of a checkout)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
. "$here/lib/check.sh"
CHECK_OUT=$(mktemp /tmp/kk-pkgsmoke.XXXXXX)
trap 'rm -f "$CHECK_OUT"' EXIT

say() { printf 'pkgsmoke: %s\n' "$*"; }

# readme_block prints README's "Install from the package" commands.
readme_block() {
	awk '/^<!-- lab\/pkgsmoke.sh runs/ { on = 1 } on && /^```bash$/ { inblock = 1; next }
		inblock && /^```$/ { exit } inblock { print }' "$top/README.md" |
		sed -E 's/^sudo //; s/[[:space:]]+#.*$//'
}

chk_readme() {
	local cmds
	cmds=$(readme_block)
	[ -n "$cmds" ] || { echo "no 'Install from the package' block in README.md"; return 1; }
	(cd "$top" && DEBIAN_FRONTEND=noninteractive MANWIDTH=100 bash -euxc "${cmds//apt install /apt install -y }") >/tmp/kk-pkgsmoke.log 2>&1 ||
		{ tail -n 15 /tmp/kk-pkgsmoke.log; return 1; }
	grep -q '^EXAMPLES' /tmp/kk-pkgsmoke.log || { echo "man kk-monitor printed no EXAMPLES"; return 1; }
	echo "${cmds//$'\n'/; }"
}

chk_versions() {
	local n out v want
	want=$(dpkg-query -W -f='${Version}' kk)
	for n in kk-monitor kk-firewall kk-client knockknock knockknock-proxy knockknock-daemon knockknock-genprofile; do
		out=$("$n" --version 2>&1) || { echo "$n --version failed: $out"; return 1; }
		v=$(grep -o ' v[^ ]*' <<<"$out" | head -n 1)
		v=$(bash "$top/packaging/version.sh" --deb "${v# }" 2>&1)
		[ "$v" = "$want" ] || { echo "$n --version says '$out', not the package's $want"; return 1; }
	done
	echo "7 names, version $want, from $(command -v knockknock)"
}

chk_man() {
	local p out
	for p in kk-monitor kk-firewall kk-client "5 knockknock.conf" knockknock-genprofile; do
		# shellcheck disable=SC2086 # "5 knockknock.conf" is two words
		out=$(MANWIDTH=100 man $p 2>&1) && grep -q '^SYNOPSIS' <<<"$out" || { echo "man $p: $(head -n 3 <<<"$out")"; return 1; }
	done
	echo "kk-monitor(8), kk-firewall(8), kk-client(1), knockknock.conf(5), knockknock-genprofile(8)"
}

chk_installed() {
	getcap /usr/bin/kk-client | grep -q 'cap_net_raw=ep' || { echo "kk-client has no cap_net_raw+ep"; return 1; }
	id knockknock >/dev/null || { echo "no knockknock user"; return 1; }
	[ "$(systemctl is-enabled kk-monitor.service 2>&1)" = enabled ] || { echo "kk-monitor.service is not enabled"; return 1; }
	echo "cap_net_raw=ep, user knockknock, kk-monitor.service enabled (no systemd running here)"
}

chk_purge() {
	DEBIAN_FRONTEND=noninteractive apt-get purge -y kk >/tmp/kk-pkgsmoke-purge.log 2>&1 || { tail -n 10 /tmp/kk-pkgsmoke-purge.log; return 1; }
	[ ! -e /usr/bin/kk-monitor ] && [ ! -e /etc/knockknock.d ] || { echo "kk's files remain after purge"; return 1; }
	echo "binaries and /etc/knockknock.d gone"
}

[ "$(id -u)" -eq 0 ] || { say "needs root (apt install)"; exit 1; }
check "README: make package, apt install ./dist/kk_*.deb, man kk-monitor" chk_readme
check "the binaries and the original's names print the package's version" chk_versions
check "man renders the package's pages" chk_man
check "postinst without a running systemd: capability, user, units enabled" chk_installed
check "apt purge" chk_purge
printf '\npkgsmoke: %d passed, %d failed\n' "$PASSED" "$FAILED"
[ "$FAILED" -eq 0 ]
