package firewall

import (
	"fmt"
	"slices"
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

// ensureChain creates Chain and the INPUT jump at position 1 if missing.
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
	jumped, err := ipt.Exists(table, "INPUT", jumpSpec...)
	if err != nil {
		return fmt.Errorf("checking INPUT jump to %s: %w", Chain, err)
	}
	if !jumped {
		if err := ipt.Insert(table, "INPUT", 1, jumpSpec...); err != nil {
			return fmt.Errorf("inserting INPUT jump to %s: %w", Chain, err)
		}
	}
	return nil
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

// expire removes every opening whose deadline has passed.
func (m *IPTables) expire() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	m.expireDue()
	m.rearm()
}

func (m *IPTables) expireDue() {
	now := m.now()
	for _, o := range m.openings {
		if !now.Before(o.Deadline) {
			m.remove(o, "deadline") // logged; the entry is forgotten either way
		}
	}
}

// Cleanup deletes the INPUT jump and Chain with all its rules, for IPv4 and
// IPv6. It is for ExecStopPost and uninstalling.
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
	return nil
}
