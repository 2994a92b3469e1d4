package monitor

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/kk-project/kk/pkg/firewall"
	"github.com/kk-project/kk/pkg/kernlog"
	"github.com/kk-project/kk/pkg/knock"
	"github.com/kk-project/kk/pkg/profile"
)

// handleKnock hands a candidate packet to the knock worker (startKnocks)
// and returns: the follower reads on while knocks are verified, recorded
// and opened.
func (m *Monitor) handleKnock(pkt kernlog.Packet) {
	m.knocks <- candidate{pkt: pkt, parsed: time.Now()} // full, it holds the follower back
}

// A candidate is a knock candidate on its way from the follower to the
// knock worker.
type candidate struct {
	pkt    kernlog.Packet
	parsed time.Time
}

// knockQueue is how many candidates may wait for the knock worker. An
// accepted knock holds the worker for about a millisecond (fdatasync and
// the gRPC call), and a garbage one for a few microseconds; past this many
// the follower waits, and no candidate is dropped.
const knockQueue = 1024

// startKnocks runs the knock worker until the returned stop is called;
// stop returns once every candidate handed over before it is handled.
// Once ctx is done, an opening that fails is not tried again.
//
// Why a goroutine of its own. The follower used to verify, record and open
// each knock itself, so in a busy or replayed log it read nothing during
// the counter's fdatasync and the gRPC call, and nothing while a garbage
// knock's verification computed HMACs. Now parsing and the knocks run side
// by side, while the knocks themselves keep their order: one worker, so a
// profile's counter is verified, recorded and advanced one knock at a time.
func (m *Monitor) startKnocks(ctx context.Context) (stop func()) {
	knocks := make(chan candidate, knockQueue)
	m.knocks = knocks
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c := range knocks {
			m.handleCandidate(ctx, c)
		}
	}()
	return func() {
		close(knocks)
		<-done
	}
}

// handleCandidate verifies a candidate packet and, if it is a fresh knock,
// records its counter on disk before asking kk-firewall to open the port.
func (m *Monitor) handleCandidate(ctx context.Context, c candidate) {
	tm := knockTiming{parsed: c.parsed, picked: time.Now()}
	o, ok := m.verifyAndRecord(c.pkt, &tm)
	if ok {
		m.open(ctx, o, tm)
	}
}

// An opening is an accepted knock whose counter is on disk.
type opening struct {
	st   *state
	s    *served
	src  netip.Addr
	port uint16
}

// verifyAndRecord matches pkt against its profile's verifier and, if it is
// a fresh knock for a port the profile may open, stores its counter on
// disk and moves the verifier past it.
func (m *Monitor) verifyAndRecord(pkt kernlog.Packet, tm *knockTiming) (opening, bool) {
	m.knockMu.Lock()
	defer m.knockMu.Unlock()
	st := m.state.Load()
	s := st.byPort[pkt.DstPort]
	if s == nil {
		return opening{}, false // the profile went away in a reload
	}
	if err := s.ensureVerifier(); err != nil {
		m.log.Error("profile not served: preparing its verifier failed", "profile", s.prof.Name, "err", err)
		return opening{}, false
	}
	f := knock.Fields{ID: pkt.ID, Seq: pkt.Seq, Ack: pkt.Ack, Window: pkt.Window}
	port, used, ok := s.match(f, knock.Binding{KnockPort: pkt.DstPort, Source: pkt.Src})
	if !ok {
		m.refuse(s, pkt.Src, s.noMatchReason())
		return opening{}, false
	}
	tm.verified = time.Now()
	if err := s.prof.Accept(used); err != nil {
		if errors.Is(err, profile.ErrReplay) {
			m.refuse(s, pkt.Src, "counter already used on disk: replayed")
			m.resync(s)
			return opening{}, false
		}
		m.log.Error("recording the knock counter failed; port not opened",
			"profile", s.prof.Name, "src", pkt.Src, "port", port, "err", err)
		return opening{}, false
	}
	tm.saved = time.Now()
	m.counters.mark(s.prof) // its text file, later: see counterFiles
	s.advance(uint64(used) + 1)
	if !s.allows(port) {
		// Authentic, so its counter is used up like any other; but the
		// profile may not open this port.
		m.refuse(s, pkt.Src, fmt.Sprintf("port %d is not in the profile's %s (%s)",
			port, profile.AllowedPortsKey, profile.FormatPorts(s.prof.AllowedPorts)))
		return opening{}, false
	}
	m.accepted.Add(1)
	return opening{st: st, s: s, src: pkt.Src, port: port}, true
}

// knockTiming records when an accepted knock's handling reached each step,
// so the "knock accepted" line can say where its time went (make bench
// reads it).
type knockTiming struct {
	parsed   time.Time // the follower parsed the log line
	picked   time.Time // the knock worker took it
	verified time.Time // a counter matched
	saved    time.Time // the counter is on disk
}

// resync moves a verifier up to the counter on disk, which another process
// may have advanced. The caller holds knockMu.
func (m *Monitor) resync(s *served) {
	c, err := s.prof.Counter()
	if err != nil {
		m.log.Error("reading the knock counter failed", "profile", s.prof.Name, "err", err)
		return
	}
	s.advance(c)
}

// open asks kk-firewall for the opening and logs the outcome; an accepted
// knock is never dropped silently. knockMu is not held: a helper that is
// down holds up only the knocks behind this one, not reloads.
func (m *Monitor) open(ctx context.Context, o opening, tm knockTiming) {
	cfg, name := o.st.cfg, o.s.prof.Name
	req := firewall.OpenRequest{IP: o.src, Port: o.port, Duration: cfg.Delay, Profile: firewall.ProfileLabel(name)}
	op, err := m.openWithRetry(ctx, cfg.Socket, req)
	done := time.Now()
	if err != nil {
		m.failed.Add(1)
		m.log.Error("knock accepted but kk-firewall did not open the port",
			"profile", name, "src", o.src, "port", o.port, "socket", cfg.Socket, "err", err)
		return
	}
	m.opened.Add(1)
	m.log.Info("knock accepted", "profile", name, "src", o.src, "port", o.port,
		"deadline", op.Deadline.UTC().Format("2006-01-02T15:04:05Z07:00"),
		"handoff", tm.picked.Sub(tm.parsed), "verify", tm.verified.Sub(tm.picked),
		"counter", tm.saved.Sub(tm.verified), "open", done.Sub(tm.saved))
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
