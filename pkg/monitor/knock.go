package monitor

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/kk-project/kk/pkg/firewall"
	"github.com/kk-project/kk/pkg/kernlog"
	"github.com/kk-project/kk/pkg/knock"
	"github.com/kk-project/kk/pkg/profile"
)

// handleKnock verifies a candidate packet and, if it is a fresh knock,
// records its counter on disk before asking kk-firewall to open the port.
func (m *Monitor) handleKnock(pkt kernlog.Packet) {
	start := time.Now()
	m.knockMu.Lock()
	defer m.knockMu.Unlock()
	st := m.state.Load()
	s := st.byPort[pkt.DstPort]
	if s == nil {
		return // the profile went away in a reload
	}
	if err := s.ensureVerifier(); err != nil {
		m.log.Error("profile not served: preparing its verifier failed", "profile", s.prof.Name, "err", err)
		return
	}
	f := knock.Fields{ID: pkt.ID, Seq: pkt.Seq, Ack: pkt.Ack, Window: pkt.Window}
	port, used, ok := s.match(f, knock.Binding{KnockPort: pkt.DstPort, Source: pkt.Src})
	if !ok {
		m.refuse(s, pkt.Src, s.noMatchReason())
		return
	}
	verified := time.Now()
	if err := s.prof.Accept(used); err != nil {
		if errors.Is(err, profile.ErrReplay) {
			m.refuse(s, pkt.Src, "counter already used on disk: replayed")
			m.resync(s)
			return
		}
		m.log.Error("recording the knock counter failed; port not opened",
			"profile", s.prof.Name, "src", pkt.Src, "port", port, "err", err)
		return
	}
	m.counters.mark(s.prof) // its text file, later: see counterFiles
	s.advance(uint64(used) + 1)
	if !s.allows(port) {
		// Authentic, so its counter is used up like any other; but the
		// profile may not open this port.
		m.refuse(s, pkt.Src, fmt.Sprintf("port %d is not in the profile's %s (%s)",
			port, profile.AllowedPortsKey, profile.FormatPorts(s.prof.AllowedPorts)))
		return
	}
	m.accepted.Add(1)
	m.open(st, s, pkt.Src, port, knockTiming{start: start, verified: verified, saved: time.Now()})
}

// knockTiming records when an accepted knock's handling reached each step,
// so the "knock accepted" line can say where its time went (make bench
// reads it).
type knockTiming struct {
	start    time.Time // handleKnock called: the log line was parsed
	verified time.Time // a counter matched
	saved    time.Time // the counter is on disk
}

// resync moves a verifier up to the counter on disk, which another process
// may have advanced.
func (m *Monitor) resync(s *served) {
	c, err := s.prof.Counter()
	if err != nil {
		m.log.Error("reading the knock counter failed", "profile", s.prof.Name, "err", err)
		return
	}
	s.advance(c)
}

// open asks kk-firewall for the opening and logs the outcome; an accepted
// knock is never dropped silently.
func (m *Monitor) open(st *state, s *served, src netip.Addr, port uint16, tm knockTiming) {
	req := firewall.OpenRequest{IP: src, Port: port, Duration: st.cfg.Delay, Profile: firewall.ProfileLabel(s.prof.Name)}
	op, err := m.openWithRetry(st.cfg.Socket, req)
	done := time.Now()
	if err != nil {
		m.failed.Add(1)
		m.log.Error("knock accepted but kk-firewall did not open the port",
			"profile", s.prof.Name, "src", src, "port", port, "socket", st.cfg.Socket, "err", err)
		return
	}
	m.opened.Add(1)
	m.log.Info("knock accepted", "profile", s.prof.Name, "src", src, "port", port,
		"deadline", op.Deadline.UTC().Format("2006-01-02T15:04:05Z07:00"),
		"verify", tm.verified.Sub(tm.start), "counter", tm.saved.Sub(tm.verified), "open", done.Sub(tm.saved))
}

// syncCounterFile brings a profile's state counter file up to the record
// Accept wrote; counterFiles calls it, off the knock's path. A failure
// costs nothing but a lagging file (readers take the record's counter),
// so it is logged, not fatal.
func (m *Monitor) syncCounterFile(p *profile.Profile) {
	if err := p.SyncCounterFile(); err != nil {
		m.log.Error("updating the state counter file failed; the counter record holds the counter",
			"profile", p.Name, "err", err)
	}
}

// refuse counts a refused knock and logs it at most once per second per
// profile, with the number of refusals not logged since the last line.
func (m *Monitor) refuse(s *served, src netip.Addr, why string) {
	m.refused.Add(1)
	l := m.limiters[s.prof.Name]
	if l == nil {
		l = &suppressor{}
		m.limiters[s.prof.Name] = l
	}
	now := m.opts.Now()
	suppressed, ok, schedule := l.allow(now)
	if ok {
		m.log.Warn("knock refused", "profile", s.prof.Name, "src", src, "reason", why, "suppressed", suppressed)
	}
	if schedule { // so a lone burst's count is not held back forever
		name := s.prof.Name
		time.AfterFunc(max(l.last.Add(time.Second).Sub(now), 0), func() { m.flushRefusals(name, l) })
	}
}

// flushRefusals logs the refusals of a profile that were suppressed and not
// yet reported.
func (m *Monitor) flushRefusals(name string, l *suppressor) {
	m.knockMu.Lock()
	defer m.knockMu.Unlock()
	m.logFlushed(name, l)
}

// flushAllRefusals logs every profile's suppressed refusals now, so none
// goes unreported when the monitor stops.
func (m *Monitor) flushAllRefusals() {
	m.knockMu.Lock()
	defer m.knockMu.Unlock()
	for name, l := range m.limiters {
		m.logFlushed(name, l)
	}
}

// logFlushed logs l's pending count, if any. The caller holds knockMu.
func (m *Monitor) logFlushed(name string, l *suppressor) {
	if suppressed, ok := l.flush(m.opts.Now()); ok {
		m.log.Warn("refused knocks not logged in the last second", "profile", name, "suppressed", suppressed)
	}
}
