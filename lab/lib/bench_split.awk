# bench_split.awk: bench.sh's arithmetic. Input: kkwatch's events and the
# bench's marks, merged in time order. Output: one line of durations in ms
# per knock of kind `want` (kk, knockd or fwknop); "-" where a figure does
# not apply. Variables: want, client (the client's IPv4 address), kport
# (kk's knock port), dport (knockd's last port), fport (fwknopd's port).
#
# kk's columns: 1 wire -> rule, 2 wire -> kern.log line, 3 line -> monitor
# starts on it, 4 verify, 5 counter, 6 gRPC, 7 helper start -> rule,
# 8 rule -> helper's answer, 9 kk-client start -> wire, 10 kk-client start
# -> exit, 11 wire -> the LOG line readable in /dev/kmsg (the kernel woke its
# log readers), 12 that -> the line in kern.log (rsyslogd), 13 wire ->
# kk-monitor's "knock accepted" line (it has the helper's answer), 14 the
# hand-off from kk-monitor's follower to its knock worker. knockd's and fwknop's:
# 1 wire -> rule.

# dur converts a Go duration as slog prints it (850µs, 1.2ms, 2s) to seconds.
function dur(s,    n, u) {
	n = s + 0
	u = s
	sub(/^[0-9.]+/, "", u)
	if (u == "ns") return n / 1e9
	if (u == "µs" || u == "us") return n / 1e6
	if (u == "ms") return n / 1e3
	if (u == "s") return n
	return -1e9 # a form this does not know (minutes): makes the row absurd, not silent
}

# field returns the value of key= in the current line, "" if absent.
function field(key,    i) {
	for (i = 3; i <= NF; i++)
		if (index($i, key "=") == 1) return substr($i, length(key) + 2)
	return ""
}

function ms(d) { return sprintf("%.2f", d * 1000) }

# flush prints the row of the knock whose window just ended.
function flush(    start, fwstart) {
	if (kind != want) return
	if (want == "kk") {
		if (!wire || !kern || !mon || !fw || !rule) {
			if (t0) printf "kk knock for port %s: missing %s%s%s%s%s\n", port, wire ? "" : "wire ", kern ? "" : "kern.log ",
				mon ? "" : "monitor ", fw ? "" : "helper ", rule ? "" : "rule" > "/dev/stderr"
			return
		}
		start = mon - verify - handoff - counter - open
		fwstart = fw - took
		print ms(rule - wire), ms(kern - wire), ms(start - kern), ms(verify), ms(counter), ms(open - took),
			ms(rule - fwstart), ms(fw - rule), ms(wire - t0), (tex ? ms(tex - t0) : "-"),
			(kmsg ? ms(kmsg - wire) : "-"), (kmsg ? ms(kern - kmsg) : "-"), ms(mon - wire), ms(handoff)
		return
	}
	if (!wire || !rule) {
		if (t0) printf "%s knock %s: missing %s%s\n", want, port, wire ? "" : "wire ", rule ? "" : "rule" > "/dev/stderr"
		return
	}
	print ms(rule - wire)
}

$2 == "mark" {
	flush()
	kind = $3; port = $4; t0 = $1
	wire = kmsg = kern = mon = fw = rule = tex = 0
	verify = handoff = counter = open = took = 0
	next
}
$2 == "exit" { tex = $1; next }
kind == "kk" && $2 == "wire" && $3 == client && $4 == kport && !wire { wire = $1; next }
kind == "knockd" && $2 == "wire" && $3 == client && $4 == dport { wire = $1; next }
kind == "fwknop" && $2 == "wire" && $3 == client && $4 == fport && !wire { wire = $1; next }
$2 == "rule" && wire && !rule {
	if ((kind == "kk" && $4 == "KNOCKKNOCK") || (kind == "knockd" && $4 == "KNOCKD") || (kind == "fwknop" && $4 == "FWKNOP_INPUT"))
		rule = $1
	next
}
kind == "kk" && $2 == "kmsg" && wire && !kmsg && index($0, "SRC=" client " ") && index($0, "DPT=" kport " ") { kmsg = $1; next }
kind == "kk" && $2 == "line" && $3 == "kern" && !kern && index($0, "SRC=" client " ") && index($0, "DPT=" kport " ") { kern = $1; next }
kind == "kk" && $2 == "line" && $3 == "mon" && $0 ~ /knock accepted/ && field("port") == port {
	mon = $1; verify = dur(field("verify")); handoff = dur(field("handoff")); counter = dur(field("counter"))
	open = dur(field("open"))
	next
}
kind == "kk" && $2 == "line" && $3 == "fw" && field("msg") == "opened" && field("port") == port {
	fw = $1; took = dur(field("took"))
	next
}
END { flush() }
