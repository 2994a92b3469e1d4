package firewall

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Backend selects how Open writes an opening's rule.
type Backend string

const (
	// BackendAuto writes opening rules straight into nf_tables over
	// netlink, for each family whose iptables is iptables-nft and whose
	// start-up check passes, and runs iptables for the others. It is the
	// default (also as "").
	BackendAuto Backend = "auto"
	// BackendIPTables runs iptables for every rule.
	BackendIPTables Backend = "iptables"
)

// ParseBackend checks a --backend value.
func ParseBackend(s string) (Backend, error) {
	switch b := Backend(s); b {
	case BackendAuto, BackendIPTables:
		return b, nil
	}
	return "", fmt.Errorf("unknown backend %q: want %q or %q", s, BackendAuto, BackendIPTables)
}

// A netlinkWriter writes an opening's rule into nf_tables itself, as the
// very expressions iptables-nft writes for ruleSpec, so that iptables
// lists, checks and deletes it as its own; it saves the fork and exec of
// iptables (several milliseconds) on the path from a knock to its rule.
// Everything but appending (and the check of the INPUT jump after it)
// still runs iptables. A netlinkWriter is used with IPTables.mu held.
type netlinkWriter interface {
	// Append appends o's rule to Chain.
	Append(o Opening) error
	// JumpFirst reports whether the first rule of INPUT is the jump to
	// Chain exactly as iptables-nft writes `-j KNOCKKNOCK`, and no other
	// INPUT rule jumps or goes to Chain. false means "not sure": the
	// caller checks with iptables.
	JumpFirst() (bool, error)
	// Delete deletes every rule of Chain that has o's expressions as
	// Append writes them, and returns how many it deleted.
	Delete(o Opening) (int, error)
}

// probeOpening is the opening the start-up check writes for a family: a
// documentation address (RFC 5737, RFC 3849), the discard port, and a
// deadline long past, so that the kernel never matches it and any sweep
// deletes it.
func probeOpening(v6 bool) Opening {
	ip := netip.MustParseAddr("192.0.2.1")
	if v6 {
		ip = netip.MustParseAddr("2001:db8::1")
	}
	return Opening{IP: ip, Port: 9, Deadline: time.Date(2001, 1, 1, 0, 0, 1, 0, time.UTC), Profile: "kk-netlink-check"}
}

// errLegacy is why a family of iptables-legacy gets no netlinkWriter.
var errLegacy = errors.New("iptables is iptables-legacy, whose rules are not in nf_tables")

// useNetlink decides, for one family after start, whether Open writes its
// rules over netlink: only if a netlinkWriter can be had and the rule it
// writes passes probe. Either way it logs one line saying which. It runs
// beside Open, which runs iptables until then; it takes m.mu only to hand
// the writer over.
func (m *IPTables) useNetlink(v6 bool) {
	fam := familyName(v6)
	w, err := m.newNetlink(v6)
	if err == nil {
		err = m.probe(v6, w)
	}
	if err != nil {
		m.log.Warn("opening rules are written by running "+fam+": the nf_tables netlink rule failed its start-up check",
			"family", fam, "check", err)
		return
	}
	m.mu.Lock()
	m.nl[v6] = w
	m.mu.Unlock()
	m.log.Info("opening rules are written over nf_tables netlink: "+fam+" lists and deletes them as its own", "family", fam)
}

// probe appends probeOpening's rule with w and checks that iptables sees
// exactly its own rule: `iptables -S` prints ruleLine for it once, and
// `iptables -D` with ruleSpec deletes it. Whatever fails, the test rule is
// gone afterwards (it never matches anyway). It needs no lock: the test
// rule is found by its own content, whatever Open does meanwhile.
func (m *IPTables) probe(v6 bool, w netlinkWriter) error {
	o := probeOpening(v6)
	ipt := m.fams[v6]
	cmd := familyName(v6)
	if err := w.Append(o); err != nil {
		return fmt.Errorf("appending a test rule over netlink: %w", err)
	}
	err := func() error {
		lines, err := ipt.List(table, Chain)
		if err != nil {
			return fmt.Errorf("%s -S %s: %w", cmd, Chain, err)
		}
		rs := rules(lines)
		if n := count(rs, ruleLine(o)); n != 1 {
			last := ""
			if len(rs) > 0 {
				last = rs[len(rs)-1]
			}
			return fmt.Errorf("%s -S %s printed the test rule as %q, want %q", cmd, Chain, last, ruleLine(o))
		}
		if err := ipt.Delete(table, Chain, ruleSpec(o)...); err != nil {
			return fmt.Errorf("%s -D %s with the test rule's own spec did not delete it: %w", cmd, Chain, err)
		}
		return nil
	}()
	n, derr := w.Delete(o)
	switch {
	case err != nil && derr != nil:
		m.log.Error("the rule of the failed start-up check could not be deleted; it never matches (its deadline is past) and the next start deletes it",
			"family", cmd, "err", derr)
	case err == nil && derr != nil:
		err = fmt.Errorf("looking for the test rule over netlink after %s -D: %w", cmd, derr)
	case err == nil && n > 0:
		err = fmt.Errorf("%s -D %s with the test rule's spec left the netlink rule in place", cmd, Chain)
	}
	return err
}

func count(lines []string, line string) int {
	n := 0
	for _, l := range lines {
		if l == line {
			n++
		}
	}
	return n
}

// appendRule appends o's rule, over netlink where the family has a
// netlinkWriter, else with iptables. m.mu must be held.
func (m *IPTables) appendRule(ipt iptabler, o Opening) error {
	if w := m.nl[o.IP.Is6()]; w != nil {
		return w.Append(o)
	}
	return ipt.Append(table, Chain, ruleSpec(o)...)
}

// jumpInPlace reports, from a netlink read of INPUT, that its jump to
// Chain is first and alone, so that checkJump need not run iptables.
// m.mu must be held.
func (m *IPTables) jumpInPlace(v6 bool) bool {
	w := m.nl[v6]
	if w == nil {
		return false
	}
	ok, err := w.JumpFirst()
	return err == nil && ok
}
