#!/usr/bin/env bash
# version.sh: kk's version, in one place for the binaries (make's VERSION,
# which --version prints) and the package (build.sh) and its check
# (lab/lib/realsystemd_checks.sh), so the three cannot disagree.
#
#   version.sh             git describe of the tree: v0.1.0, v0.1.0-3-gabc1234,
#                          with -dirty for uncommitted changes. A clone
#                          without tags (CI's) reads as v0.0.0-<commits>-g<hash>,
#                          so it still sorts by commit.
#   version.sh --deb [V]   V (default: the above) as a Debian version that
#                          sorts the way the commits do: v0.1.0 -> 0.1.0,
#                          v0.1.0-3-gabc1234 -> 0.1.0+3.gabc1234, -dirty ->
#                          .dirty (+dirty on a tag); a tag's pre-release part
#                          sorts before it (v0.2.0-rc1 -> 0.2.0~rc1).
set -euo pipefail

die() { printf 'version.sh: %s\n' "$*" >&2; exit 1; }

describe() {
	local top v n hash dirty=
	top=$(cd "$(dirname "$0")/.." && pwd)
	if v=$(git -C "$top" describe --tags --dirty --match 'v[0-9]*' 2>/dev/null); then
		echo "$v"
		return
	fi
	hash=$(git -C "$top" rev-parse --short=7 HEAD 2>/dev/null) || die "$top is not a git checkout, and kk's version comes from git: set VERSION"
	n=$(git -C "$top" rev-list --count HEAD)
	git -C "$top" update-index -q --refresh >/dev/null 2>&1 || true
	git -C "$top" diff-index --quiet HEAD -- || dirty=-dirty
	echo "v0.0.0-$n-g$hash$dirty"
}

# deb turns a version of describe's form into a Debian version.
deb() {
	local v=${1#v} base n hash dirty=
	[[ $v == *-dirty ]] && { dirty=dirty; v=${v%-dirty}; }
	if [[ $v =~ ^(.+)-([0-9]+)-g([0-9a-f]+)$ ]]; then
		base=${BASH_REMATCH[1]} n=${BASH_REMATCH[2]} hash=${BASH_REMATCH[3]}
		v="${base//-/\~}+$n.g$hash${dirty:+.$dirty}"
	else
		v="${v//-/\~}${dirty:++$dirty}"
	fi
	[[ $v =~ ^[0-9][A-Za-z0-9.+~]*$ ]] || die "'$1' makes no Debian version ('$v'): tag releases vX.Y.Z"
	echo "$v"
}

case ${1:-} in
"") describe ;;
--deb) deb "${2:-$(describe)}" ;;
*) die "usage: version.sh [--deb [VERSION]]" ;;
esac
