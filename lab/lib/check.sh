# check.sh: the PASS and FAIL lines of every lab script (lab.sh,
# realsystemd.sh, pkgsmoke.sh) and their count. Sourced; each script sets
# CHECK_OUT to a file in its own temporary directory before its first check.

PASSED=0
FAILED=0

pass() {
	PASSED=$((PASSED + 1))
	printf 'PASS  %s\n' "$*"
}

fail() {
	FAILED=$((FAILED + 1))
	printf 'FAIL  %s\n' "$*"
}

# check NAME CMD... runs CMD and prints one PASS or FAIL line for NAME. CMD
# may print a detail, shown after the name on the same line. CMD runs in
# this shell, not in a $(...) subshell, so that Ctrl-C reaches the INT trap;
# its output goes through CHECK_OUT.
check() {
	local name=$1 out rc
	shift
	"$@" >"${CHECK_OUT:?CHECK_OUT not set: the script sets it before its first check}" 2>&1 && rc=0 || rc=$?
	out=$(<"$CHECK_OUT")
	out=${out//$'\n'/; }
	if [ "$rc" -eq 0 ]; then
		pass "$name${out:+ ($out)}"
	else
		fail "$name${out:+: $out}"
	fi
	return 0
}
