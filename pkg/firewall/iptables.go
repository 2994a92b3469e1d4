package firewall

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-iptables/iptables"
)

// iptabler is the part of *iptables.IPTables that IPTables uses, so unit
// tests can pass an in-memory fake.
type iptabler interface {
	ChainExists(table, chain string) (bool, error)
	NewChain(table, chain string) error
	ClearAndDeleteChain(table, chain string) error
	DeleteChain(table, chain string) error
	Exists(table, chain string, rulespec ...string) (bool, error)
	Insert(table, chain string, pos int, rulespec ...string) error
	Append(table, chain string, rulespec ...string) error
	Delete(table, chain string, rulespec ...string) error
	DeleteById(table, chain string, id int) error
	List(table, chain string) ([]string, error)
}

var _ iptabler = (*iptables.IPTables)(nil)

// Config configures an IPTables manager.
type Config struct {
	// Policy decides which requests are accepted.
	Policy Policy
	// Log receives audit and error lines; nil means slog.Default().
	Log *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Backend selects how Open writes rules; "" means BackendAuto.
	Backend Backend

	// newNetlink returns the netlinkWriter for a family; nil means
	// iptables writes every rule. NewIPTables sets it for BackendAuto.
	newNetlink func(v6 bool) (netlinkWriter, error)
	// probeDelay is how long the netlink writer's start-up check waits
	// for the first Open to return before it runs anyway.
	probeDelay time.Duration
}

// firstCallWait is NewIPTables' probeDelay: a socket-activated helper's
// first call comes within milliseconds of its start.
const firstCallWait = 500 * time.Millisecond

// IPTables is the Manager that kk-firewall serves. Each opening is one rule
// in Chain, written with iptables for IPv4 and ip6tables for IPv6; a timer
// removes it within a second of its deadline and the rule's own time match
// stops it matching at the deadline even if the process is gone.
//
// Create it with NewIPTables. It is safe for concurrent use.
type IPTables struct {
	policy Policy
	log    *slog.Logger
	now    func() time.Time
	fams   map[bool]iptabler // keyed by "is IPv6"; IPv6 may be missing
	v6err  error             // why IPv6 is missing

	newNetlink func(v6 bool) (netlinkWriter, error)
	nl         map[bool]netlinkWriter // families whose rules Open writes over netlink

	mu       sync.Mutex
	openings map[key]Opening
	timer    *time.Timer
	closed   bool
	probing  chan struct{} // closed when useNetlink has decided for every family

	probeDelay time.Duration
	firstCall  chan struct{} // closed when the first Open returns
	firstOnce  sync.Once
	done       chan struct{} // closed by Close
	closeOnce  sync.Once
}

type key struct {
	ip   netip.Addr
	port uint16
}

var _ Manager = (*IPTables)(nil)

// NewIPTables prepares Chain and the jump to it in both the iptables and
// ip6tables filter tables, then sweeps Chain: expired rules and rules it
// cannot parse are deleted, the rest are scheduled for removal at their
// deadline. Call Close when done.
//
// IPv4 is required. If ip6tables is missing or fails, the manager logs why
// and serves IPv4 only; IPv6 requests then fail with that reason.
func NewIPTables(cfg Config) (*IPTables, error) {
	v4, err := iptables.NewWithProtocol(iptables.ProtocolIPv4)
	if err != nil {
		return nil, fmt.Errorf("finding iptables (install the iptables package): %w", err)
	}
	var v6 iptabler
	if ipt, err := iptables.NewWithProtocol(iptables.ProtocolIPv6); err == nil {
		v6 = ipt
	} else {
		v6 = brokenIPT{fmt.Errorf("finding ip6tables (install the iptables package): %w", err)}
	}
	legacy := legacyBackend("iptables")
	switch cfg.Backend {
	case "", BackendAuto:
		cfg.newNetlink = func(v6 bool) (netlinkWriter, error) {
			// ip6tables' exec is here, in the start-up check after the
			// first call, not in front of it.
			if v6 && legacyBackend("ip6tables") || !v6 && legacy {
				return nil, errLegacy
			}
			w, err := newNFTWriter(v6, 0)
			if err != nil {
				return nil, err
			}
			return w, nil
		}
	case BackendIPTables:
	default:
		return nil, fmt.Errorf("unknown firewall backend %q", cfg.Backend)
	}
	cfg.probeDelay = firstCallWait
	m, err := newIPTables(v4, v6, cfg)
	if err == nil && legacy {
		m.log.Warn("iptables is iptables-legacy, where every rule change refills the one-connection limit of every opening: an opening may admit more than one connection",
			"fix", "update-alternatives --set iptables /usr/sbin/iptables-nft; update-alternatives --set ip6tables /usr/sbin/ip6tables-nft")
	}
	return m, err
}

// legacyBackend reports whether cmd (iptables or ip6tables) on PATH, which
// go-iptables runs, is iptables-legacy. Legacy replaces the whole table on
// each change and so resets every -m limit bucket; nf_tables keeps each
// rule's own.
func legacyBackend(cmd string) bool {
	out, err := exec.Command(cmd, "-V").Output()
	return err == nil && strings.Contains(string(out), "(legacy)")
}

func newIPTables(v4, v6 iptabler, cfg Config) (*IPTables, error) {
	m := &IPTables{
		policy:     cfg.Policy,
		log:        cfg.Log,
		now:        cfg.Now,
		fams:       map[bool]iptabler{false: v4, true: v6},
		newNetlink: cfg.newNetlink,
		probeDelay: cfg.probeDelay,
		firstCall:  make(chan struct{}),
		done:       make(chan struct{}),
		nl:         make(map[bool]netlinkWriter),
		openings:   make(map[key]Opening),
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	if m.now == nil {
		m.now = time.Now
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.prepare(false); err != nil {
		return nil, err
	}
	if err := m.prepare(true); err != nil {
		m.log.Warn("IPv6 openings disabled: ip6tables failed; IPv4 is served", "err", err)
		m.v6err = err
		delete(m.fams, true)
	}
	m.rearm()
	m.probing = make(chan struct{})
	if m.newNetlink == nil {
		for _, v6 := range []bool{false, true} {
			if _, ok := m.fams[v6]; ok {
				m.log.Info("opening rules are written by running "+familyName(v6)+" (backend iptables)", "family", familyName(v6))
			}
		}
		close(m.probing)
		return m, nil
	}
	// The check execs iptables twice per family, some 50 ms in all: it runs
	// after the first call, which runs iptables, instead of in front of it
	// or beside it, since a socket-activated helper's first call is a knock
	// waiting for its port.
	go func() {
		defer close(m.probing)
		t := time.NewTimer(m.probeDelay)
		defer t.Stop()
		select {
		case <-m.firstCall:
		case <-t.C:
		case <-m.done:
			return
		}
		for _, v6 := range []bool{false, true} {
			if _, ok := m.fams[v6]; ok {
				m.useNetlink(v6)
			}
		}
	}()
	return m, nil
}

// family returns the table handle for ip's address family.
func (m *IPTables) family(ip netip.Addr) (iptabler, error) {
	if ipt, ok := m.fams[ip.Is6()]; ok {
		return ipt, nil
	}
	return nil, fmt.Errorf("IPv6 firewall unavailable since start: %w", m.v6err)
}

// Open adds the rule for req, or moves the deadline of an existing opening
// by adding the new rule before deleting the old one.
func (m *IPTables) Open(ctx context.Context, req OpenRequest) (Opening, error) {
	defer m.firstOnce.Do(func() { close(m.firstCall) })
	if err := m.policy.Validate(req); err != nil {
		return Opening{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k := key{req.IP, req.Port}
	old, reopen := m.openings[k]
	if !reopen && len(m.openings) >= m.policy.Limit() {
		return Opening{}, fmt.Errorf("opening %s port %d: %w: %d live openings (--max-openings)", req.IP, req.Port, ErrExhausted, len(m.openings))
	}
	o := Opening{IP: req.IP, Port: req.Port, Deadline: ceilSecond(m.now().Add(req.Duration)), Profile: req.Profile}
	if reopen && ruleLine(old) == ruleLine(o) {
		if err := m.keep(o); err != nil {
			return Opening{}, err
		}
		return o, nil
	}
	if err := m.add(o); err != nil {
		return Opening{}, err
	}
	m.openings[k] = o
	if reopen {
		m.remove(old, "moved")
	}
	m.rearm()
	return o, nil
}

// List reads Chain and returns the openings whose deadline has not passed.
// Openings whose rule was deleted by hand are forgotten.
func (m *IPTables) List(ctx context.Context) ([]Opening, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	var out []Opening
	seen := make(map[Opening]bool)
	for _, ipt := range []iptabler{m.fams[false], m.fams[true]} {
		if ipt == nil {
			continue
		}
		lines, err := ipt.List(table, Chain)
		if err != nil {
			return nil, fmt.Errorf("listing chain %s: %w", Chain, err)
		}
		for _, line := range lines {
			if o, ok := parseRule(line); ok && now.Before(o.Deadline) {
				out = append(out, o)
				seen[o] = true
			}
		}
	}
	m.forgetMissing(seen)
	SortOpenings(out)
	return out, nil
}

// Revoke deletes the rule for ip and port now.
func (m *IPTables) Revoke(ctx context.Context, ip netip.Addr, port uint16) error {
	if err := m.policy.ValidateTarget(ip, port); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.openings[key{ip, port}]
	if !ok {
		return fmt.Errorf("revoking %s port %d: %w", ip, port, ErrNotFound)
	}
	if err := m.remove(o, "revoked"); err != nil {
		return err
	}
	m.rearm()
	return nil
}

// Pending returns the number of openings whose rule is still in place.
func (m *IPTables) Pending() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.openings)
}

// Close stops the expiry timer and waits for the start-up check of the
// netlink writer. Rules stay: the kernel stops matching them
// at their deadlines and the next start's sweep deletes them.
func (m *IPTables) Close() error {
	m.mu.Lock()
	m.closed = true
	if m.timer != nil {
		m.timer.Stop()
	}
	m.mu.Unlock()
	m.closeOnce.Do(func() { close(m.done) })
	<-m.probing // so that no test rule outlives the manager
	return nil
}

// add writes o's rule (over netlink where the family allows, see
// useNetlink), then puts the INPUT jump back at position 1 if
// something removed or displaced it, since a rule in a chain nothing jumps
// to opens nothing; it recreates Chain once if that vanished. The jump is
// checked after the append, not before, so that the rule is in the kernel
// one iptables exec sooner; the answer still waits for the check, and if
// the jump cannot be restored the rule is deleted again and Open fails.
func (m *IPTables) add(o Opening) error {
	ipt, err := m.family(o.IP)
	if err != nil {
		return fmt.Errorf("adding rule for %s port %d: %w", o.IP, o.Port, err)
	}
	v6 := o.IP.Is6()
	err = m.appendRule(ipt, o)
	if err != nil {
		if exists, cerr := ipt.ChainExists(table, Chain); cerr == nil && !exists {
			m.log.Warn("chain missing; recreating it", "chain", Chain, "family", familyName(v6))
			if err = m.ensureChain(v6); err == nil {
				err = m.appendRule(ipt, o)
			}
		}
	}
	if err == nil {
		if err = m.checkJump(v6); err != nil {
			if derr := ipt.Delete(table, Chain, ruleSpec(o)...); derr != nil && !isNotExist(derr) {
				m.log.Error("deleting the rule of a failed opening failed; the kernel stops matching it at its deadline",
					"ip", o.IP, "port", o.Port, "deadline", o.Deadline, "err", derr)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("adding rule for %s port %d: %w", o.IP, o.Port, err)
	}
	return nil
}

// keep checks, for a reopen that needs no new rule, that o's rule is still
// there and INPUT still jumps to it, and adds what is missing.
func (m *IPTables) keep(o Opening) error {
	ipt, err := m.family(o.IP)
	if err != nil {
		return fmt.Errorf("checking rule for %s port %d: %w", o.IP, o.Port, err)
	}
	if ok, err := ipt.Exists(table, Chain, ruleSpec(o)...); err != nil || !ok {
		return m.add(o)
	}
	if err := m.checkJump(o.IP.Is6()); err != nil {
		return fmt.Errorf("adding rule for %s port %d: %w", o.IP, o.Port, err)
	}
	return nil
}

// remove forgets o and deletes its rule. m.mu must be held.
func (m *IPTables) remove(o Opening, why string) error {
	m.forget(o)
	return m.deleteRule(o, why)
}

// forget drops o from the live openings. m.mu must be held.
func (m *IPTables) forget(o Opening) {
	k := key{o.IP, o.Port}
	if cur, ok := m.openings[k]; ok && cur == o {
		delete(m.openings, k)
	}
}

// deleteRule deletes o's rule. It needs no lock: it touches only the
// iptables handles, which are fixed after start. It runs iptables -D also
// where Open writes over netlink: measured on the lab's 6.18 kernel, a
// rule appended right after a deletion over netlink waited 8-17 ms in the
// kernel (after 20 ms, and after iptables -D, whose own exec outlasts the
// wait, it did not), so deleting over netlink would move that wait onto
// the next Open, which is a knock waiting for its port. A rule that is already
// gone is not an error: someone deleted it by hand, and the hole is closed
// either way.
func (m *IPTables) deleteRule(o Opening, why string) error {
	ipt, err := m.family(o.IP)
	if err == nil {
		err = ipt.Delete(table, Chain, ruleSpec(o)...)
	}
	switch {
	case err == nil:
		m.log.Info("closed", "ip", o.IP, "port", o.Port, "deadline", o.Deadline, "profile", o.Profile, "why", why)
		return nil
	case isNotExist(err):
		m.log.Warn("rule was already gone (deleted outside kk-firewall)", "ip", o.IP, "port", o.Port, "why", why)
		return nil
	default:
		m.log.Error("deleting rule failed; the kernel stops matching it at its deadline", "ip", o.IP, "port", o.Port, "deadline", o.Deadline, "err", err)
		return fmt.Errorf("deleting rule for %s port %d: %w", o.IP, o.Port, err)
	}
}

// forgetMissing drops openings whose rule is not in seen.
func (m *IPTables) forgetMissing(seen map[Opening]bool) {
	for k, o := range m.openings {
		if !seen[o] && m.now().Before(o.Deadline) {
			m.log.Warn("rule deleted outside kk-firewall; forgetting it", "ip", o.IP, "port", o.Port)
			delete(m.openings, k)
		}
	}
}

// isNotExist reports whether err says a rule or chain does not exist.
func isNotExist(err error) bool {
	var e interface{ IsNotExist() bool }
	return errors.As(err, &e) && e.IsNotExist()
}

// ceilSecond rounds t up to a whole second, the resolution of xt_time.
func ceilSecond(t time.Time) time.Time {
	t = t.UTC()
	if r := t.Truncate(time.Second); !r.Equal(t) {
		return r.Add(time.Second)
	}
	return t.Round(0)
}

// brokenIPT stands in for a missing ip6tables: every call fails with err.
type brokenIPT struct{ err error }

func (b brokenIPT) ChainExists(string, string) (bool, error)       { return false, b.err }
func (b brokenIPT) NewChain(string, string) error                  { return b.err }
func (b brokenIPT) ClearAndDeleteChain(string, string) error       { return b.err }
func (b brokenIPT) DeleteChain(string, string) error               { return b.err }
func (b brokenIPT) Exists(string, string, ...string) (bool, error) { return false, b.err }
func (b brokenIPT) Insert(string, string, int, ...string) error    { return b.err }
func (b brokenIPT) Append(string, string, ...string) error         { return b.err }
func (b brokenIPT) Delete(string, string, ...string) error         { return b.err }
func (b brokenIPT) DeleteById(string, string, int) error           { return b.err }
func (b brokenIPT) List(string, string) ([]string, error)          { return nil, b.err }
