package check

import (
	"strconv"
	"strings"
)

// A Trace is what happens to a knock, a TCP SYN in connection state NEW to
// one port, from an arbitrary outside address, as it goes through INPUT.
type Trace struct {
	// Logged is the first LOG rule with the wanted prefix the SYN reaches;
	// nil if none.
	Logged *Rule
	// Verdict, when Logged is nil, is the rule that ends the SYN's way
	// without logging it (ACCEPT, DROP, REJECT, ...); nil means the chain
	// policy Policy does.
	Verdict *Rule
	Policy  string
	// OtherLogs are LOG rules the SYN reaches on the way whose prefix is
	// not the wanted one, or that lack --log-tcp-sequence.
	OtherLogs []Rule
}

// maxDepth bounds nested jumps; the kernel's own limit is far below loops.
const maxDepth = 32

// TraceSYN follows a SYN to port through rs's INPUT chain until it reaches
// a LOG rule with prefix and --log-tcp-sequence (without the sequence
// numbers kk-monitor cannot read a knock) or a verdict.
//
// The SYN's source address and port are unknown, so rules that name a
// source (-s other than 0.0.0.0/0, --sport) or use a match module it cannot
// judge (set, recent, ...) are taken not to match it; rules that name an
// input interface other than lo, or a destination, are taken to match.
// Rate limits (limit, hashlimit) are taken to admit it.
func TraceSYN(rs *Ruleset, port uint16, prefix string) Trace {
	w := walker{rs: rs, port: port, prefix: prefix}
	end, last := w.chain("INPUT", 0)
	t := Trace{Logged: w.logged, OtherLogs: w.others}
	switch {
	case w.logged != nil:
	case end == endVerdict:
		t.Verdict = last
	default:
		t.Policy = rs.Policy["INPUT"]
		if t.Policy == "" {
			t.Policy = "ACCEPT" // no rules at all: the kernel's default
		}
	}
	return t
}

type walker struct {
	rs     *Ruleset
	port   uint16
	prefix string
	logged *Rule
	others []Rule
}

type end int

const (
	endPolicy  end = iota // fell off the end of the chain, or RETURN
	endVerdict            // a terminal target, or a LOG with the prefix
)

// terminal lists the targets that end a packet's way through the table.
var terminal = map[string]bool{"ACCEPT": true, "DROP": true, "REJECT": true, "QUEUE": true, "NFQUEUE": true, "TARPIT": true}

// chain walks chain's rules and says how the walk ended and, for a verdict,
// at which rule.
func (w *walker) chain(name string, depth int) (end, *Rule) {
	if depth > maxDepth {
		return endPolicy, nil
	}
	rules := w.rs.Chains[name]
	for i := range rules {
		r := &rules[i]
		if !matchesSYN(r.Args, w.port) {
			continue
		}
		target, isGoto := r.target()
		switch {
		case target == "LOG":
			if w.isKnockLog(r) {
				w.logged = r
				return endVerdict, r
			}
			w.others = append(w.others, *r)
		case target == "RETURN":
			return endPolicy, nil
		case terminal[target]:
			return endVerdict, r
		case w.isChain(target):
			if e, last := w.chain(target, depth+1); e == endVerdict {
				return e, last
			}
			if isGoto {
				return endPolicy, nil
			}
		}
	}
	return endPolicy, nil
}

func (w *walker) isChain(name string) bool {
	_, ok := w.rs.Chains[name]
	return ok && w.rs.Policy[name] == ""
}

// isKnockLog reports whether LOG rule r writes lines kk-monitor reads.
func (w *walker) isKnockLog(r *Rule) bool {
	p, _ := r.option("--log-prefix")
	_, seq := r.option("--log-tcp-sequence")
	return p == w.prefix && seq
}

// matchesSYN reports whether a rule's match part (args up to -j or -g)
// matches the knock SYN to port, as TraceSYN describes.
func matchesSYN(args []string, port uint16) bool {
	neg := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "-j" || a == "-g" {
			break
		}
		if a == "!" {
			neg = true
			continue
		}
		var val string
		if i+1 < len(args) {
			val = args[i+1]
		}
		ok, consumed := matchOption(a, val, args[i+1:], port)
		i += consumed
		if ok == neg {
			return false
		}
		neg = false
	}
	return true
}

// matchOption judges one option and returns whether it matches the SYN and
// how many following words it used. rest are the words after the option.
func matchOption(opt, val string, rest []string, port uint16) (match bool, consumed int) {
	switch opt {
	case "-m", "--match":
		return knownModule[val], 1
	case "-p", "--protocol":
		return val == "tcp" || val == "6" || val == "all" || val == "0", 1
	case "-s", "--source", "--src":
		return val == "0.0.0.0/0" || val == "::/0", 1
	case "-d", "--destination", "--dst", "-o", "--out-interface":
		return true, 1
	case "-i", "--in-interface":
		return val != "lo", 1
	case "--dport", "--destination-port", "--dports", "--destination-ports", "--ports":
		return inPortList(val, port), 1
	case "--sport", "--source-port", "--sports", "--source-ports":
		return false, 1
	case "--syn":
		return true, 0
	case "--tcp-flags":
		if len(rest) < 2 {
			return false, len(rest)
		}
		return flagsMatchSYN(rest[0], rest[1]), 2
	case "--ctstate", "--state":
		return inList(val, "NEW"), 1
	case "-f", "--fragment":
		return false, 0
	}
	return matchModuleOption(opt, rest)
}

// knownModule lists the match modules whose options matchOption and
// matchModuleOption judge; a rule using any other module is taken not to
// match.
var knownModule = map[string]bool{
	"tcp": true, "multiport": true, "conntrack": true, "state": true,
	"limit": true, "hashlimit": true, "comment": true, "time": true,
}

// matchModuleOption skips the options of rate limits, comments and time
// windows, which do not decide whether a knock is logged, with their values.
func matchModuleOption(opt string, rest []string) (bool, int) {
	n := 0
	for n < len(rest) && !strings.HasPrefix(rest[n], "-") && rest[n] != "!" {
		n++
	}
	return true, n
}

// inPortList reports whether port is in a list such as "22,6000:7000".
func inPortList(list string, port uint16) bool {
	for _, item := range strings.Split(list, ",") {
		lo, hi, isRange := strings.Cut(item, ":")
		a, err := strconv.Atoi(lo)
		if err != nil {
			a = 0
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				b = 65535
			}
		}
		if int(port) >= a && int(port) <= b {
			return true
		}
	}
	return false
}

func inList(list, want string) bool {
	for _, s := range strings.Split(list, ",") {
		if s == want {
			return true
		}
	}
	return false
}

// flagsMatchSYN reports whether a SYN matches --tcp-flags mask comp.
func flagsMatchSYN(mask, comp string) bool {
	has := func(list, f string) bool { return inList(list, f) || list == "ALL" }
	for _, f := range []string{"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"} {
		set := f == "SYN"
		if has(mask, f) && has(comp, f) != set {
			return false
		}
	}
	return true
}
