#!/usr/bin/env bash
# Installs what building, testing and the lab need on a Debian machine.
# Safe to run again: it installs only what is missing.
set -euo pipefail

pkgs=(iptables rsyslog hping3 protobuf-compiler logrotate systemd systemd-journal-remote
      iproute2 curl socat libcap2-bin procps psmisc passwd util-linux)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	if [ "$(id -u)" -ne 0 ]; then
		echo "deps: missing Debian packages: ${missing[*]}; run as root or apt-get install them" >&2
		exit 1
	fi
	echo "deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

export PATH="$PATH:/usr/local/go/bin:$(go env GOPATH)/bin"
gobin="$(go env GOPATH)/bin"
# grpcurl 1.9.2 and 1.9.3 dial "-unix /path" as TCP (fullstorydev/grpcurl#496);
# 1.9.1 takes the plain path that README documents.
go version -m "$gobin/grpcurl" 2>/dev/null | grep -q 'mod.*fullstorydev/grpcurl.*v1.9.1' || go install github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.1
[ -x "$gobin/staticcheck" ] || go install honnef.co/go/tools/cmd/staticcheck@2025.1.1
[ -x "$gobin/protoc-gen-go" ] || go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
[ -x "$gobin/protoc-gen-go-grpc" ] || go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.5.1
exit 0
