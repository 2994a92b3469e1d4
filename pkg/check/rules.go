package check

import (
	"fmt"
	"strings"
)

// A Ruleset is one iptables table as `iptables -S` or `iptables-save`
// prints it: the built-in chains' policies and every chain's rules in order.
// The zero value is an empty table; ParseRules fills one.
type Ruleset struct {
	Policy map[string]string // built-in chain -> ACCEPT or DROP
	Chains map[string][]Rule // chain -> rules, in order
}

// A Rule is one "-A CHAIN ..." line, split into words as a shell would.
type Rule struct {
	Chain string
	Args  []string // the words after "-A CHAIN"
	Line  string   // the line as printed, for messages
}

// ParseRules parses `iptables -S` or `iptables-save` output. Lines for
// other tables' markers (*filter, COMMIT), comments and blank lines are
// skipped; a line it does not understand is an error naming it.
func ParseRules(text string) (*Ruleset, error) {
	rs := &Ruleset{Policy: map[string]string{}, Chains: map[string][]Rule{}}
	for n, line := range strings.Split(text, "\n") {
		if err := rs.addLine(strings.TrimSpace(line)); err != nil {
			return nil, fmt.Errorf("iptables rules line %d: %w", n+1, err)
		}
	}
	return rs, nil
}

func (rs *Ruleset) addLine(line string) error {
	if line == "" || line[0] == '#' || line[0] == '*' || line == "COMMIT" {
		return nil
	}
	if line[0] == ':' { // iptables-save: ":INPUT ACCEPT [0:0]"
		f := strings.Fields(line[1:])
		if len(f) < 2 {
			return fmt.Errorf("malformed chain line %q", line)
		}
		rs.declare(f[0], f[1])
		return nil
	}
	words, err := splitWords(line)
	if err != nil {
		return fmt.Errorf("%w in %q", err, line)
	}
	switch {
	case len(words) == 3 && words[0] == "-P":
		rs.declare(words[1], words[2])
	case len(words) == 2 && words[0] == "-N":
		rs.declare(words[1], "-")
	case len(words) >= 2 && words[0] == "-A":
		rs.declare(words[1], "-")
		rs.Chains[words[1]] = append(rs.Chains[words[1]], Rule{Chain: words[1], Args: words[2:], Line: line})
	default:
		return fmt.Errorf("not a -P, -N or -A line: %q", line)
	}
	return nil
}

// declare records chain, with its policy if it is a built-in one ("-" for
// a user chain).
func (rs *Ruleset) declare(chain, policy string) {
	if rs.Policy == nil {
		rs.Policy, rs.Chains = map[string]string{}, map[string][]Rule{}
	}
	if policy != "-" {
		rs.Policy[chain] = policy
	}
	if _, ok := rs.Chains[chain]; !ok {
		rs.Chains[chain] = nil
	}
}

// splitWords splits an iptables rule line into words. iptables quotes a
// word holding spaces or quotes in double quotes and escapes '"' and '\'
// inside with a backslash, as in --log-prefix "REJECT ".
func splitWords(line string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord, quoted := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quoted && c == '\\' && i+1 < len(line):
			i++
			w.WriteByte(line[i])
		case quoted && c == '"':
			quoted = false
		case quoted:
			w.WriteByte(c)
		case c == '"':
			quoted, inWord = true, true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if quoted {
		return nil, fmt.Errorf("unterminated quote")
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

// option returns the value of the first option name in r (such as
// "--log-prefix") and whether it is there.
func (r Rule) option(name string) (string, bool) {
	for i, a := range r.Args {
		if a == name {
			if i+1 < len(r.Args) {
				return r.Args[i+1], true
			}
			return "", true
		}
	}
	return "", false
}

// target returns the rule's -j or -g target and whether it is a goto.
func (r Rule) target() (name string, isGoto bool) {
	if t, ok := r.option("-j"); ok {
		return t, false
	}
	if t, ok := r.option("-g"); ok {
		return t, true
	}
	return "", false
}
