package monitor

import (
	"fmt"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sort"

	"github.com/kk-project/kk/pkg/config"
	"github.com/kk-project/kk/pkg/kernlog"
	"github.com/kk-project/kk/pkg/knock"
	"github.com/kk-project/kk/pkg/profile"
)

// A state is one loaded configuration with its profiles. It is replaced
// whole on reload and never changed, except that its verifiers advance while
// the monitor holds knockMu.
type state struct {
	cfg    config.Config // LogSource resolved: file or journald, never auto
	parser *kernlog.Parser
	byPort map[uint16]*served
}

// A served profile is one the monitor currently accepts knocks for.
type served struct {
	prof     *profile.Profile
	verifier *knock.Verifier // nil until the first candidate knock
	set      *knock.Set      // with allowed_ports: built with verifier
	window   int
	counter  uint64 // the on-disk counter when loaded
}

// ensureVerifier builds the profile's verifier on first use, and its Set if
// the profile lists allowed_ports. A verifier costs about 0.1 ms and up to
// 72 KiB (its filter fills in as knocks arrive), a Set about 15 ms and
// 1.1 MiB, so profiles that are never knocked on cost neither at start-up
// nor on reload. The caller holds knockMu.
func (s *served) ensureVerifier() error {
	if s.verifier != nil {
		return nil
	}
	c, err := s.prof.Counter()
	if err != nil {
		return err
	}
	newVerifier := knock.NewVerifier
	if s.prof.Version == 2 {
		newVerifier = knock.NewVerifierV2
	}
	v, err := newVerifier(&s.prof.Keys, c, s.window)
	if err != nil {
		return fmt.Errorf("profile %s: %w", s.prof.Dir, err)
	}
	// A Set cannot precompute v2 knocks, which depend on the sender.
	if len(s.prof.AllowedPorts) > 0 && s.prof.Version != 2 {
		if s.set, err = knock.NewSet(&s.prof.Keys, c, knock.SetWindow, s.prof.AllowedPorts); err != nil {
			return fmt.Errorf("profile %s: %w", s.prof.Dir, err)
		}
	}
	s.verifier = v
	return nil
}

// match finds the port and counter of knock f. A profile with allowed_ports
// looks in its Set first: any allowed port, SetWindow counters ahead, in
// one lookup. Then, and for every other profile, the verifier tries
// error_window counters for any port, so that an authentic knock for a port
// outside allowed_ports is recognised, and refused by name.
//
// A v2 profile's knock must be bound to b: the packet's knock port and
// source address.
func (s *served) match(f knock.Fields, b knock.Binding) (port uint16, used uint32, ok bool) {
	if s.set != nil {
		if port, used, ok = s.set.Match(f); ok {
			return port, used, ok
		}
	}
	return s.verifier.MatchFrom(f, b)
}

// noMatchReason says why a knock no counter matched was refused.
func (s *served) noMatchReason() string {
	if s.prof.Version == 2 {
		return "no counter in the window matches: forged, replayed, too far ahead, " +
			"or a v2 knock made for another source address (a client behind NAT needs kk-client --nat-address)"
	}
	return "no counter in the window matches: forged, replayed or too far ahead"
}

// advance moves the verifier, and the Set, so that next is the oldest
// counter tried.
func (s *served) advance(next uint64) {
	s.verifier.Advance(next)
	if s.set != nil {
		s.set.Advance(next)
	}
}

// allows reports whether the profile may open port.
func (s *served) allows(port uint16) bool {
	return len(s.prof.AllowedPorts) == 0 || slices.Contains(s.prof.AllowedPorts, port)
}

// source describes where the state's log comes from, for messages and to
// tell whether a reload must restart the follower.
func (st *state) source() string {
	if st.cfg.LogSource == config.SourceJournald {
		return "journald"
	}
	return st.cfg.LogFile
}

// loadState reads the configuration and the profiles. Their verifiers are
// built on first use (ensureVerifier) or, on a reload, taken over from the
// state before (Reload).
func (m *Monitor) loadState() (*state, error) {
	cfg, err := m.loadConfig()
	if err != nil {
		return nil, err
	}
	st := &state{cfg: cfg, byPort: map[uint16]*served{}}
	profiles, errs := profile.LoadAllParallel(m.opts.ProfilesDir, cfg.StateDir)
	for _, err := range errs {
		m.log.Error("profile not served", "err", err)
	}
	var ports []uint16
	var names []string
	ready := make([]*served, len(profiles))
	failed := make([]error, len(profiles))
	profile.Parallel(len(profiles), profile.LoadWorkers, func(i int) {
		p := profiles[i]
		counter, err := m.takeOver(p)
		if err == nil {
			ready[i], err = newServed(p, counter, cfg.ErrorWindow)
		}
		failed[i] = err
	})
	for i, p := range profiles {
		if err := failed[i]; err != nil {
			m.log.Error("profile not served", "profile", p.Name, "err", err)
			continue
		}
		s := ready[i]
		st.byPort[p.KnockPort] = s
		ports = append(ports, p.KnockPort)
		names = append(names, fmt.Sprintf("%s:%d", p.Name, p.KnockPort))
	}
	sort.Strings(names)
	st.parser = kernlog.NewParser(cfg.LogPrefix, ports)
	if len(st.byPort) == 0 {
		m.log.Warn("no valid profile: knocks are ignored until a reload (SIGHUP) finds one",
			"profiles", m.opts.ProfilesDir)
	}
	m.log.Info("configuration loaded", "config", m.opts.ConfigPath, "profiles", names,
		"log", st.source(), "prefix", cfg.LogPrefix, "socket", cfg.Socket, "delay", cfg.Delay)
	return st, nil
}

// takeOver gives p a state counter from its own counter file if it has
// none yet (a new profile, or one copied from an original install), and
// returns p's next unused counter.
func (m *Monitor) takeOver(p *profile.Profile) (uint64, error) {
	took, c, err := p.TakeOverCounter()
	if took {
		m.log.Info("counter taken over: the profile's counter file is only read from now on",
			"profile", p.Name, "from", filepath.Join(p.Dir, profile.CounterFile), "counter", c)
	}
	return c, err
}

// loadConfig reads the configuration file, applies the overrides and
// resolves log_source, logging which source it is and why.
func (m *Monitor) loadConfig() (config.Config, error) {
	cfg, found, err := config.Load(m.opts.ConfigPath)
	if err != nil {
		return cfg, err
	}
	if !found {
		m.log.Info("no configuration file; using defaults", "config", m.opts.ConfigPath)
	}
	cfg, reason := cfg.Effective(config.Overrides{LogFile: m.opts.LogFile, Socket: m.opts.Socket, StateDir: m.opts.StateDir},
		m.opts.Stat)
	m.log.Info(fmt.Sprintf("log source: %s (%s)", cfg.LogSource, reason))
	return cfg, nil
}

// newServed prepares a profile, whose next unused counter on disk is
// counter, for verification.
func newServed(p *profile.Profile, counter uint64, window int) (*served, error) {
	if window < 1 || window > knock.MaxWindow {
		return nil, fmt.Errorf("error window %d out of range 1-%d", window, knock.MaxWindow)
	}
	return &served{prof: p, window: window, counter: counter}, nil
}

// takeVerifier gives s the verifier and Set of old, the same profile in the
// state before a reload, if its keys, port and window are unchanged: with
// the filter bytes they have learnt, and Sets cost 15 ms each to build. It
// moves them up to the counter on disk. The caller holds knockMu, under
// which the knock worker builds and moves verifiers.
func (s *served) takeVerifier(old *served) {
	p := s.prof
	if old == nil || old.verifier == nil || old.prof.Dir != p.Dir || old.prof.Keys != p.Keys ||
		old.window != s.window || old.prof.Version != p.Version || !slices.Equal(old.prof.AllowedPorts, p.AllowedPorts) {
		return
	}
	s.verifier, s.set = old.verifier, old.set
	s.advance(s.counter)
}

// Reload rereads the configuration and the profiles. Added profiles are
// served from now on, removed ones no longer; counters are taken from disk.
// If the configuration cannot be read, the previous one stays in force and
// the error is returned. A changed log source is followed from its end.
func (m *Monitor) Reload() error {
	m.reloadMu.Lock()
	defer m.reloadMu.Unlock()
	old := m.state.Load()
	st, err := m.loadState()
	if err != nil {
		m.log.Error("reload failed; keeping the previous configuration", "err", err)
		return fmt.Errorf("reloading: %w", err)
	}
	m.knockMu.Lock()
	for port, s := range st.byPort {
		s.takeVerifier(old.byPort[port])
	}
	m.state.Store(st)
	m.knockMu.Unlock()
	if st.cfg.Socket != old.cfg.Socket {
		m.fwMu.Lock()
		m.dropFirewall()
		m.fwMu.Unlock()
	}
	debug.FreeOSMemory() // the replaced state's verifiers are garbage now
	if st.source() != old.source() {
		select {
		case m.restart <- struct{}{}:
		default:
		}
	}
	return nil
}
