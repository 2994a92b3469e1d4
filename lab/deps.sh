#!/usr/bin/env bash
# deps.sh: installs what `make demo` or `make test` needs on a Debian 12
# machine, and checks that what is installed is what was asked for.
#
# Usage: lab/deps.sh demo|bench|test
#   demo  the lab's runtime: iptables, rsyslog, hping3, socat, curl, ...
#   bench demo's, plus the anchors `make bench` measures kk against:
#         knockd (with its client, knock) and fwknop's server and client
#   test  demo's, plus the lint and proto tools, grpcurl for the API tests,
#         mmdebstrap and systemd-nspawn for the fresh-root and real-systemd
#         checks, and nfpm and lintian for make package and its check
#
# Go tools are installed by exact version, each one a version the Go module
# proxy serves, and an installed binary of another version is replaced. Safe
# to run again: it installs only what is missing or wrong.
set -euo pipefail

mode=${1:-}
demo_pkgs=(iptables rsyslog hping3 logrotate systemd iproute2 curl socat libcap2-bin
	procps psmisc passwd util-linux)
# The other knockers, servers and clients, run beside kk by make bench.
bench_pkgs=(knockd fwknop-client fwknop-server)
# libprotobuf-dev carries google/protobuf/*.proto, which protobuf-compiler only
# recommends; nftables.service runs in the real-systemd container's boot, to
# show kk's rules survive its flush; systemd-journal-remote writes the journal files the journald
# follower's tests read.
test_pkgs=(groff-base man-db protobuf-compiler libprotobuf-dev systemd-journal-remote mmdebstrap systemd-container
	lintian nftables)
# The committed generated code names protoc 3.21.12 (Debian 12's).
protoc_version="libprotoc 3.21.12"

# go_tools: "binary module version package" for each Go tool make test uses.
# staticcheck's tag-style versions (2025.1.1) are not served by the module
# proxy; its module versions are.
go_tools=(
	"staticcheck honnef.co/go/tools v0.8.2 honnef.co/go/tools/cmd/staticcheck"
	"protoc-gen-go google.golang.org/protobuf v1.36.12 google.golang.org/protobuf/cmd/protoc-gen-go"
	"protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc v1.5.1 google.golang.org/grpc/cmd/protoc-gen-go-grpc"
	# grpcurl 1.9.2 and 1.9.3 dial "-unix /path" as TCP (fullstorydev/grpcurl#496);
	# 1.9.1 takes the plain path that README documents.
	"grpcurl github.com/fullstorydev/grpcurl v1.9.1 github.com/fullstorydev/grpcurl/cmd/grpcurl"
	# make package builds the .deb with it.
	"nfpm github.com/goreleaser/nfpm/v2 v2.45.2 github.com/goreleaser/nfpm/v2/cmd/nfpm"
)

die() { printf 'deps: %s\n' "$*" >&2; exit 1; }

install_debs() {
	local p missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	[ "$(id -u)" -eq 0 ] || die "missing Debian packages: ${missing[*]}; run as root or apt-get install them"
	echo "deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq || die "apt-get update failed: are the Debian mirrors in /etc/apt/sources.list* reachable?"
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
		die "apt-get install ${missing[*]} failed"
	for p in "${missing[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || die "$p is still not installed"
	done
}

# go_tool_ok BIN MODULE VERSION reports whether BIN was built from MODULE at VERSION.
go_tool_ok() {
	go version -m "$1" 2>/dev/null | awk -v m="$2" -v v="$3" '
		($1 == "path" || $1 == "mod") && $2 == m && $3 == v { ok = 1 }
		END { exit !ok }'
}

install_go_tools() {
	local gobin line bin mod ver pkg
	command -v go >/dev/null || die "go not found: kk builds with the Go toolchain at /usr/local/go"
	gobin=$(go env GOPATH)/bin
	for line in "${go_tools[@]}"; do
		read -r bin mod ver pkg <<<"$line"
		go_tool_ok "$gobin/$bin" "$mod" "$ver" && continue
		echo "deps: go install $pkg@$ver"
		go install "$pkg@$ver" || die "go install $pkg@$ver failed: is the Go module proxy ($(go env GOPROXY)) reachable?"
		go_tool_ok "$gobin/$bin" "$mod" "$ver" || die "$gobin/$bin is not $mod $ver after go install"
	done
	protoc --version | grep -qx "$protoc_version" ||
		die "protoc is '$(protoc --version)', want '$protoc_version' (Debian 12's protobuf-compiler): the committed generated code names it"
}

export PATH="$PATH:/usr/local/go/bin"
PATH="$PATH:$(go env GOPATH 2>/dev/null)/bin"
case "$mode" in
demo) install_debs "${demo_pkgs[@]}" ;;
bench) install_debs "${demo_pkgs[@]}" "${bench_pkgs[@]}" ;;
test)
	install_debs "${demo_pkgs[@]}" "${test_pkgs[@]}"
	install_go_tools
	;;
*) die "usage: lab/deps.sh demo|bench|test" ;;
esac
