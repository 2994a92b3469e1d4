#!/usr/bin/env bash
# build.sh: `make package`. Builds dist/kk_<version>_<arch>.deb with nfpm:
#   1. links the binaries again without symbols (-s -w: Debian ships
#      stripped binaries; the compiled packages come from make build's cache)
#      into bin/pkgbin, with the VERSION make passes;
#   2. stages `make install` with PREFIX=/usr and those binaries into
#      bin/pkgroot (the same install.sh, so the package and make install
#      cannot differ), gzips the
#      man pages, and adds the copyright file (kk's, then the license of
#      every Go module compiled into the binaries, read from the module
#      cache), the changelog and the lintian overrides;
#   3. runs nfpm with packaging/nfpm.yaml;
#   4. checks that every staged file is in the .deb, with its mode.
# The version is make's VERSION (packaging/version.sh), made a Debian version
# by version.sh --deb.
# Usage: VERSION=$(packaging/version.sh) packaging/build.sh
# (make package sets VERSION and runs make build man first; writes dist/ at
# the top of the tree)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
stage=bin/pkgroot
out=dist

say() { printf 'package: %s\n' "$*"; }
die() { printf 'package: %s\n' "$*" >&2; exit 1; }

# license_of prints the Debian short name of a LICENSE file's license.
license_of() {
	if grep -q 'Apache License' "$1" && grep -q 'Version 2.0' "$1"; then
		echo Apache-2.0
	elif grep -q 'Permission is hereby granted, free of charge' "$1"; then
		echo Expat
	elif grep -q 'Redistribution and use in source and binary forms' "$1" && grep -q 'Neither the name' "$1"; then
		echo BSD-3-clause
	else
		return 1
	fi
}

# license_stanza MODULE VERSION LICENSEFILE prints a copyright paragraph.
license_stanza() {
	local mod=$1 ver=$2 file=$3 lic holder
	lic=$(license_of "$file") || die "$file: a license build.sh does not know: add it to license_of"
	holder=$(grep -m1 -i '^ *copyright' "$file" | sed -E 's/^ *[Cc]opyright *(\(c\)|©)? *//') || true
	echo
	echo "Files: $mod/*"
	echo "Copyright: ${holder:-the $mod authors}"
	echo "Comment: $mod $ver, compiled into kk-monitor, kk-firewall and kk-client."
	echo "License: $lic"
	if [ "$lic" = Apache-2.0 ]; then
		echo " On Debian systems the full text of the Apache License 2.0 is in"
		echo " /usr/share/common-licenses/Apache-2.0."
	else
		sed -e 's/^[[:space:]]*$/./' -e 's/^/ /' "$file"
	fi
}

# copyright writes the machine-readable copyright file: kk, Go's standard
# library, and each module the binaries were linked with.
copyright() {
	local modcache goroot mod ver dir lic
	modcache=$(go env GOMODCACHE)
	goroot=$(go env GOROOT)
	cat "$here/copyright"
	license_stanza "Go standard library" "$(go env GOVERSION)" "$goroot/LICENSE"
	for b in kk-monitor kk-firewall kk-client; do go version -m "bin/pkgbin/$b"; done |
		awk '$1 == "dep" { print $2, $3 } $1 == "=>" { print $2, $3 }' | sort -u |
		while read -r mod ver; do
			# The module cache escapes capitals as !lower.
			dir=$modcache/$(sed -E 's/([A-Z])/!\L\1/g' <<<"$mod")@$ver
			lic=$(find "$dir" -maxdepth 1 -iname 'licen[cs]e*' -print -quit 2>/dev/null)
			[ -n "$lic" ] || die "no LICENSE for $mod $ver in $dir: run go mod download"
			license_stanza "$mod" "$ver" "$lic"
		done
}

# changelog writes a native package's changelog entry for this build.
changelog() {
	local version=$1
	cat <<EOC
kk ($version) unstable; urgency=medium

  * Built from git commit $(git -C "$top" rev-parse HEAD)
    ($VERSION).
  * $(git -C "$top" log -1 --format=%s | cut -c1-70)

 -- kk maintainers <maintainers@users.noreply.r-seed-0467f1a6.example>  $(git -C "$top" log -1 --format=%aD)
EOC
}

stage_files() {
	rm -rf "$stage"
	DESTDIR="$top/$stage" PREFIX=/usr MANSRC="$top/bin/man" bash systemd/install.sh install bin/pkgbin >bin/pkgroot.log 2>&1 ||
		die "staging make install failed: $(tail -n 5 bin/pkgroot.log)"
	# A package enables its units (postinst) and guards them with their
	# Condition; the preset that keeps make install's units disabled is not
	# packaged.
	rm -f "$stage/usr/lib/systemd/system-preset/80-kk.preset"
	rmdir "$stage/usr/lib/systemd/system-preset"
	# Debian's man pages are gzipped, and so are the links' names and targets.
	find "$stage/usr/share/man" -type f -exec gzip -9n {} +
	local link
	find "$stage/usr/share/man" -type l | while read -r link; do
		ln -s "$(readlink "$link").gz" "$link.gz"
		rm "$link"
	done
	install -d "$stage/usr/share/doc/kk" "$stage/usr/share/lintian/overrides"
	copyright >"$stage/usr/share/doc/kk/copyright"
	changelog "$1" | gzip -9n >"$stage/usr/share/doc/kk/changelog.gz"
	install -m 0644 "$here/lintian-overrides" "$stage/usr/share/lintian/overrides/kk"
	chmod 0644 "$stage/usr/share/doc/kk/copyright" "$stage/usr/share/doc/kk/changelog.gz"
}

# check_contents fails if the .deb lacks a staged file or has its mode wrong.
check_contents() {
	local deb=$1 listing missing=
	listing=$(dpkg-deb -c "$deb" | awk '{ sub(/^\./, "", $6); print $1, $6 }')
	while read -r f; do
		local want
		want=$(stat -c '%A' "$stage$f")
		grep -qx -- "$want $f" <<<"$listing" || missing+=" $f($want)"
	done < <(cd "$stage" && find . \( -type f -o -type l \) | sed 's/^\.//' | sort)
	[ -z "$missing" ] || die "staged but not in $deb (or another mode): $missing: add them to packaging/nfpm.yaml"
}

main() {
	cd "$top"
	export PATH="$PATH:/usr/local/go/bin:$(go env GOPATH 2>/dev/null)/bin"
	command -v nfpm >/dev/null || die "nfpm not found: run bash lab/deps.sh test (make deps)"
	local b version arch deb
	[ -n "${VERSION:-}" ] || die "VERSION not set: run make package"
	for b in kk-monitor kk-firewall kk-client; do
		CGO_ENABLED=0 go build -trimpath -ldflags "-X github.com/kk-project/kk/pkg/version.Version=$VERSION -s -w" \
			-o "bin/pkgbin/$b" "./cmd/$b" || die "go build ./cmd/$b failed"
	done
	version=$(bash "$here/version.sh" --deb "$VERSION") || die "VERSION=$VERSION makes no Debian version"
	arch=$(dpkg --print-architecture 2>/dev/null || go env GOARCH)
	stage_files "$version"
	mkdir -p "$out"
	deb=$out/kk_${version}_$arch.deb
	# One package in dist/, so dist/kk_*.deb names it.
	rm -f "$out"/kk_*.deb
	# The commit's time stamps every file: the same commit packs the same .deb.
	SOURCE_DATE_EPOCH=$(git log -1 --format=%ct) KK_DEB_VERSION=$version KK_DEB_ARCH=$arch nfpm package --config "$here/nfpm.yaml" --packager deb --target "$deb" >bin/nfpm.log 2>&1 ||
		die "nfpm failed: $(cat bin/nfpm.log)"
	check_contents "$deb"
	say "$deb ($(du -k "$deb" | cut -f1) KiB, version $version)"
}

main "$@"
