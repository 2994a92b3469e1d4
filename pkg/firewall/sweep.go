package firewall

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-iptables/iptables"
)

// prepare makes sure Chain and the jump exist for one family, then sweeps
// the chain left by an earlier run.
func (m *IPTables) prepare(v6 bool) error {
	if err := m.ensureChain(v6); err != nil {
		return err
	}
	return m.sweep(v6)
}

// ensureChain creates Chain if missing and puts the INPUT jump to it at
// position 1. A jump that is missing is normal at first start; one that
// something else displaced is logged.
func (m *IPTables) ensureChain(v6 bool) error {
	ipt := m.fams[v6]
	exists, err := ipt.ChainExists(table, Chain)
	if err != nil {
		return fmt.Errorf("checking chain %s (kk-firewall needs root / CAP_NET_ADMIN): %w", Chain, err)
	}
	if !exists {
		if err := ipt.NewChain(table, Chain); err != nil {
			return fmt.Errorf("creating chain %s: %w", Chain, err)
		}
	}
	fixed, err := m.placeJump(v6)
	if fixed == jumpDisplaced {
		m.warnJump(v6, fixed)
	}
	return err
}

// What placeJump found wrong with the INPUT jump.
const (
	jumpMissing   = "missing"
	jumpDisplaced = "not the first INPUT rule"
)

// jumpLine is jumpSpec as `iptables -S INPUT` prints it.
var jumpLine = "-A INPUT " + strings.Join(jumpSpec, " ")

// placeJump makes the INPUT jump to Chain the first INPUT rule, and the
// only jump to it. It returns what was wrong ("" if nothing). The new jump
// goes in before any stray one is deleted, so packets always meet one.
func (m *IPTables) placeJump(v6 bool) (string, error) {
	ipt := m.fams[v6]
	lines, err := ipt.List(table, "INPUT")
	if err != nil {
		return "", fmt.Errorf("listing INPUT to check its jump to %s: %w", Chain, err)
	}
	rs := rules(lines)
	if len(rs) > 0 && rs[0] == jumpLine && !slices.Contains(rs[1:], jumpLine) {
		return "", nil
	}
	fixed := jumpMissing
	if slices.Contains(rs, jumpLine) {
		fixed = jumpDisplaced
	}
	if err := ipt.Insert(table, "INPUT", 1, jumpSpec...); err != nil {
		return fixed, fmt.Errorf("inserting INPUT jump to %s: %w", Chain, err)
	}
	for i := len(rs) - 1; i >= 0; i-- {
		if rs[i] == jumpLine {
			if err := ipt.DeleteById(table, "INPUT", i+2); err != nil { // +1 for 1-based, +1 for the new jump
				return fixed, fmt.Errorf("deleting stray INPUT jump to %s: %w", Chain, err)
			}
		}
	}
	return fixed, nil
}

// checkJump runs placeJump and logs what it had to fix. Where a netlink
// read shows the jump in place, which is the usual case, it runs no
// iptables at all.
func (m *IPTables) checkJump(v6 bool) error {
	if m.jumpInPlace(v6) {
		return nil
	}
	fixed, err := m.placeJump(v6)
	if fixed != "" {
		m.warnJump(v6, fixed)
	}
	return err
}

// warnJump logs that the INPUT jump had to be put back, and what usually
// takes it away, so the operator can fix the cause.
func (m *IPTables) warnJump(v6 bool, fixed string) {
	cause := "a flush or reload of INPUT: iptables -F INPUT, iptables-restore, ufw reload or a firewalld restart"
	if fixed == jumpDisplaced {
		cause = "rules inserted at the top of INPUT, as ufw and firewalld do on reload"
	}
	m.log.Warn("INPUT jump to "+Chain+" was "+fixed+"; re-inserted it at position 1",
		"family", familyName(v6), "probable_cause", cause)
}

func familyName(v6 bool) string {
	if v6 {
		return "ip6tables"
	}
	return "iptables"
}

// sweep deletes expired, duplicate and unparseable rules from Chain and
// adopts the rest as openings.
func (m *IPTables) sweep(v6 bool) error {
	ipt := m.fams[v6]
	lines, err := ipt.List(table, Chain)
	if err != nil {
		return fmt.Errorf("listing chain %s: %w", Chain, err)
	}
	now := m.now()
	latest := now.Add(m.policy.maxDuration())
	var doomed []int // rule numbers, 1-based
	for i, line := range rules(lines) {
		o, ok := parseRule(line)
		_, dup := m.openings[key{o.IP, o.Port}]
		switch {
		case !ok:
			m.log.Warn("deleting rule kk-firewall cannot parse", "chain", Chain, "rule", line)
		case !now.Before(o.Deadline):
			m.log.Info("deleting expired rule", "ip", o.IP, "port", o.Port, "deadline", o.Deadline)
		case dup:
			m.log.Warn("deleting duplicate rule", "rule", line)
		case o.Deadline.After(latest):
			// Replaced, not kept: a rule lasting past --max-duration would
			// outlive the one-connection limit and keep the helper from idling.
			if err := m.adoptCapped(ipt, o, latest.UTC().Truncate(time.Second)); err != nil {
				return err
			}
		default:
			m.log.Info("adopted opening", "ip", o.IP, "port", o.Port, "deadline", o.Deadline, "profile", o.Profile)
			m.openings[key{o.IP, o.Port}] = o
			continue
		}
		doomed = append(doomed, i+1)
	}
	slices.Reverse(doomed)
	for _, n := range doomed {
		if err := ipt.DeleteById(table, Chain, n); err != nil {
			return fmt.Errorf("deleting rule %d of chain %s: %w", n, Chain, err)
		}
	}
	return nil
}

// adoptCapped adopts o with its deadline moved back to deadline, appending
// the shorter rule; the caller deletes o's. Appending keeps the numbers of
// the rules being swept.
func (m *IPTables) adoptCapped(ipt iptabler, o Opening, deadline time.Time) error {
	c := o
	c.Deadline = deadline
	if err := ipt.Append(table, Chain, ruleSpec(c)...); err != nil {
		return fmt.Errorf("replacing rule for %s port %d with one capped at --max-duration: %w", o.IP, o.Port, err)
	}
	m.log.Warn("adopted opening lasted past --max-duration; capped it", "ip", o.IP, "port", o.Port,
		"deadline", o.Deadline, "capped", c.Deadline, "max_duration", m.policy.maxDuration(), "profile", o.Profile)
	m.openings[key{o.IP, o.Port}] = c
	return nil
}

// rules drops the "-N CHAIN" line from `iptables -S CHAIN` output, leaving
// one line per rule in rule-number order.
func rules(lines []string) []string {
	out := lines[:0:0]
	for _, l := range lines {
		if len(l) > 3 && l[:3] == "-A " {
			out = append(out, l)
		}
	}
	return out
}

// rearm sets the timer for the earliest deadline. m.mu must be held.
func (m *IPTables) rearm() {
	if m.closed {
		return
	}
	var next time.Time
	for _, o := range m.openings {
		if next.IsZero() || o.Deadline.Before(next) {
			next = o.Deadline
		}
	}
	if next.IsZero() {
		return
	}
	d := max(next.Sub(m.now()), 0)
	if m.timer == nil {
		m.timer = time.AfterFunc(d, m.expire)
		return
	}
	m.timer.Reset(d)
}

// expire removes every opening whose deadline has passed. The rules are
// deleted after the lock is released: each deletion execs iptables (about
// 15 ms), and deadlines are whole seconds, so expiries come in bursts that
// would otherwise hold up Open calls arriving meanwhile. An Open for the
// same address and port in between adds a rule with a later deadline,
// which is a different rule, so it is not touched.
func (m *IPTables) expire() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	due := m.takeDue()
	m.rearm()
	m.mu.Unlock()
	for _, o := range due {
		m.deleteRule(o, "deadline") // logged; the opening is forgotten either way
	}
}

// takeDue forgets and returns the openings whose deadline has passed. m.mu
// must be held.
func (m *IPTables) takeDue() []Opening {
	now := m.now()
	var due []Opening
	for _, o := range m.openings {
		if !now.Before(o.Deadline) {
			m.forget(o)
			due = append(due, o)
		}
	}
	return due
}

func Cleanup() error {
	for _, p := range []iptables.Protocol{iptables.ProtocolIPv4, iptables.ProtocolIPv6} {
		ipt, err := iptables.NewWithProtocol(p)
		if err != nil {
			return fmt.Errorf("finding iptables for protocol %v: %w", p, err)
		}
		if err := cleanup(ipt); err != nil {
			return err
		}
	}
	return nil
}

func cleanup(ipt iptabler) error {
	for {
		jumped, err := ipt.Exists(table, "INPUT", jumpSpec...)
		if err != nil || !jumped {
			break
		}
		if err := ipt.Delete(table, "INPUT", jumpSpec...); err != nil {
			return fmt.Errorf("deleting INPUT jump to %s: %w", Chain, err)
		}
	}
	if err := ipt.ClearAndDeleteChain(table, Chain); err != nil {
		return fmt.Errorf("deleting chain %s: %w", Chain, err)
	}
	// Left only by a helper killed during its start-up check.
	if err := ipt.ClearAndDeleteChain(table, checkChain); err != nil {
		return fmt.Errorf("deleting chain %s: %w", checkChain, err)
	}
	return nil
}
