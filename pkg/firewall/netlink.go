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
	// Append appends o's rule to chain (Chain, or checkChain for the
	// start-up check).
	Append(chain string, o Opening) error
	// JumpFirst reports whether the first rule of INPUT is the jump to
	// Chain exactly as iptables-nft writes `-j KNOCKKNOCK`, and no other
	// INPUT rule jumps or goes to Chain. false means "not sure": the
	// caller checks with iptables.
	JumpFirst() (bool, error)
	// Delete deletes every rule of chain that has o's expressions as
	// Append writes them, and returns how many it deleted.
	Delete(chain string, o Opening) (int, error)
}

// probeOpening is the opening the start-up check writes for a family: a
// documentation address (RFC 5737, RFC 3849), the discard port, and a
// deadline long past, so that it could never match even if something
// jumped to its chain.
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
// beside any Open, which runs iptables until then; it takes m.mu only to
// hand the writer over.
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

// checkChain is the chain the start-up check writes its test rule in,
// created for it and deleted after it, so that nothing reading Chain (an
// admin, List, a test) ever sees the test rule. Nothing jumps to it.
const checkChain = Chain + "-CHECK"

// probe appends probeOpening's rule to checkChain with w and checks that
// iptables sees exactly its own rule: `iptables -S` prints it as ruleLine
// would, once, and `iptables -D` with ruleSpec deletes it. Whatever fails,
// checkChain is gone afterwards. It needs no lock: it touches no chain
// Open does.
func (m *IPTables) probe(v6 bool, w netlinkWriter) error {
	o := probeOpening(v6)
	ipt := m.fams[v6]
	cmd := familyName(v6)
	if err := ipt.NewChain(table, checkChain); err != nil {
		// Left by a run killed during its check?
		if err := ipt.ClearAndDeleteChain(table, checkChain); err != nil {
			return fmt.Errorf("%s -X %s left by an earlier check: %w", cmd, checkChain, err)
		}
		if err := ipt.NewChain(table, checkChain); err != nil {
			return fmt.Errorf("%s -N %s: %w", cmd, checkChain, err)
		}
	}
	passed := false
	defer func() {
		// After a passed check the chain is empty: one exec.
		err := ipt.DeleteChain(table, checkChain)
		if err != nil && !passed {
			err = ipt.ClearAndDeleteChain(table, checkChain)
		}
		if err != nil {
			m.log.Warn("deleting the start-up check's chain failed; nothing jumps to it, and the next start deletes it",
				"family", cmd, "chain", checkChain, "err", err)
		}
	}()
	if err := w.Append(checkChain, o); err != nil {
		return fmt.Errorf("appending a test rule over netlink: %w", err)
	}
	lines, err := ipt.List(table, checkChain)
	if err != nil {
		return fmt.Errorf("%s -S %s: %w", cmd, checkChain, err)
	}
	want := ruleLineIn(checkChain, o)
	if rs := rules(lines); len(rs) != 1 || rs[0] != want {
		return fmt.Errorf("%s -S %s printed the test rule as %q, want %q", cmd, checkChain, rs, want)
	}
	if err := ipt.Delete(table, checkChain, ruleSpec(o)...); err != nil {
		return fmt.Errorf("%s -D %s with the test rule's own spec did not delete it: %w", cmd, checkChain, err)
	}
	switch n, err := w.Delete(checkChain, o); {
	case err != nil:
		return fmt.Errorf("looking for the test rule over netlink after %s -D: %w", cmd, err)
	case n > 0:
		return fmt.Errorf("%s -D %s with the test rule's spec left the netlink rule in place", cmd, checkChain)
	}
	passed = true
	return nil
}

// appendRule appends o's rule, over netlink where the family has a
// netlinkWriter, else with iptables. m.mu must be held.
func (m *IPTables) appendRule(ipt iptabler, o Opening) error {
	if w := m.nl[o.IP.Is6()]; w != nil {
		return w.Append(Chain, o)
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
