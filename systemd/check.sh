#!/usr/bin/env bash
# check.sh: proves the shipped systemd units are valid and hardened, without a
# running systemd. It installs the units and the built binaries into a
# temporary root (with a copy of the system's own units for targets such as
# sysinit.target), then runs
#   systemd-analyze verify --root=ROOT          (must print nothing)
#   systemd-analyze security --offline=true     (exposure thresholds below)
# Usage: systemd/check.sh [BINDIR]   (BINDIR defaults to ./bin; run make build first)
# Prints one PASS/FAIL line per check and exits non-zero if any failed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
bindir=${1:-$here/../bin}
declare -A max_exposure=([kk-monitor.service]=1.5 [kk-firewall.service]=3.0 [knockknock-firewall.service]=3.0)
failed=0

pass() { printf 'PASS  %s\n' "$*"; }
fail() { printf 'FAIL  %s\n' "$*"; failed=1; }

command -v systemd-analyze >/dev/null || { fail "systemd-analyze not found: apt-get install systemd"; exit 1; }
for b in kk-firewall kk-monitor kk-client; do
	[ -x "$bindir/$b" ] || { fail "$bindir/$b missing: run make build"; exit 1; }
done

root=$(mktemp -d /tmp/kk-systemd-check.XXXXXX)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/local/bin" "$root/etc/systemd/system" "$root/usr/lib/systemd" "$root/usr/bin"
cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/"
cp /bin/kill "$root/usr/bin/kill"
ln -s usr/bin "$root/bin"
install -m 0755 "$bindir/kk-firewall" "$bindir/kk-monitor" "$bindir/kk-client" "$root/usr/local/bin/"
install -m 0644 "$here"/kk-firewall.socket "$here"/kk-firewall.service "$here"/kk-monitor.service \
	"$here"/knockknock-firewall.service "$root/etc/systemd/system/"
install -D -m 0755 "$here/../firewall/knockknock-firewall.sh" "$root/usr/local/sbin/knockknock-firewall.sh"
units=(kk-firewall.socket kk-firewall.service kk-monitor.service knockknock-firewall.service)
# The proxy is a user unit; verify checks its syntax and ExecStart all the same.
if [ -f "$here/kk-client-proxy.service" ]; then
	install -m 0644 "$here/kk-client-proxy.service" "$root/etc/systemd/system/"
	units+=(kk-client-proxy.service)
fi

# verify prints nothing for clean units; any output is a finding.
out=$(cd "$root/etc/systemd/system" && timeout 60 systemd-analyze verify --root="$root" "${units[@]}" 2>&1) && rc=0 || rc=$?
if [ "$rc" -eq 0 ] && [ -z "$out" ]; then
	pass "systemd-analyze verify: ${units[*]} clean"
else
	fail "systemd-analyze verify (exit $rc):"$'\n'"$out"
fi

for unit in "${!max_exposure[@]}"; do
	out=$(cd "$root/etc/systemd/system" &&
		timeout 60 systemd-analyze security --offline=true --root="$root" --no-pager "$unit" 2>&1) || true
	exposure=$(sed -n "s/.*Overall exposure level for $unit: \([0-9.]*\).*/\1/p" <<<"$out")
	limit=${max_exposure[$unit]}
	if [ -z "$exposure" ]; then
		fail "systemd-analyze security $unit: no exposure figure:"$'\n'"$out"
	elif awk -v e="$exposure" -v l="$limit" 'BEGIN { exit !(e <= l) }'; then
		pass "systemd-analyze security $unit: exposure $exposure (limit $limit)"
	else
		fail "systemd-analyze security $unit: exposure $exposure is over $limit"$'\n'"$(grep '✗' <<<"$out")"
	fi
done
# expect_stat MODE_OWNER PATH says what PATH is if its "mode uid:gid" differs.
expect_stat() {
	local got
	got=$(stat -c '%a %u:%g' "$2")
	[ "$got" = "$1" ] || { echo "${2#"$root"/fresh} is $got, want $1"; return 1; }
}

# sysusers.d and tmpfiles.d, applied to an empty root: the user, its groups,
# and the directories with their owners and modes.
check_sysusers_tmpfiles() {
	local r=$root/fresh uid gid
	mkdir -p "$r/etc" "$r/usr/lib/sysusers.d" "$r/usr/lib/tmpfiles.d"
	cp "$here/sysusers.d/knockknock.conf" "$r/usr/lib/sysusers.d/"
	cp "$here/tmpfiles.d/knockknock.conf" "$r/usr/lib/tmpfiles.d/"
	systemd-sysusers --root="$r" >/dev/null 2>&1 || { echo "systemd-sysusers failed"; return 1; }
	uid=$(awk -F: '$1 == "knockknock" { print $3 }' "$r/etc/passwd")
	gid=$(awk -F: '$1 == "knockknock" { print $3 }' "$r/etc/group")
	[ -n "$uid" ] && [ -n "$gid" ] || { echo "no knockknock user and group"; return 1; }
	grep -Eq '^adm:[^:]*:[0-9]+:(.*,)?knockknock(,.*)?$' "$r/etc/group" || { echo "knockknock is not in adm"; return 1; }
	# A profile as an older kk left it (knockknock's, 0700/0600) and one as
	# genprofile without the group writes it (root's alone): tmpfiles must
	# make both root:knockknock, directories 0750 and files 0640.
	mkdir -p "$r/etc/knockknock.d/profiles/old" "$r/etc/knockknock.d/profiles/new"
	local f
	for f in cipher.key mac.key counter config; do
		install -m 0600 -o "$uid" -g "$gid" /dev/null "$r/etc/knockknock.d/profiles/old/$f"
		install -m 0600 /dev/null "$r/etc/knockknock.d/profiles/new/$f"
	done
	chown "$uid:$gid" "$r/etc/knockknock.d/profiles/old"
	chmod 0700 "$r/etc/knockknock.d/profiles/old" "$r/etc/knockknock.d/profiles/new"
	systemd-tmpfiles --root="$r" --create >/dev/null 2>&1 || { echo "systemd-tmpfiles --create failed"; return 1; }
	expect_stat "750 0:$gid" "$r/etc/knockknock.d/profiles" || return 1
	for f in old new; do
		expect_stat "750 0:$gid" "$r/etc/knockknock.d/profiles/$f" || return 1
		expect_stat "640 0:$gid" "$r/etc/knockknock.d/profiles/$f/cipher.key" || return 1
		expect_stat "640 0:$gid" "$r/etc/knockknock.d/profiles/$f/counter" || return 1
	done
	expect_stat "700 $uid:$gid" "$r/var/lib/knockknock" || return 1
	expect_stat "750 0:$gid" "$r/run/knockknock" || return 1
	echo "user knockknock in adm; profiles 0750 and their files 0640 root:knockknock, /var/lib/knockknock 0700 knockknock, /run/knockknock 0750 root:knockknock"
}
if out=$(check_sysusers_tmpfiles); then
	pass "sysusers.d and tmpfiles.d on an empty root: $out"
else
	fail "sysusers.d and tmpfiles.d: $out"
fi
exit "$failed"
