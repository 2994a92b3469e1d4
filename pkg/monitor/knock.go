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

// handleKnock verifies a candidate packet on the follower's goroutine and
// hands a fresh knock to the opener (see runOpener), which records its
// counter on disk before it asks kk-firewall to open the port.
//
// The verifier moves past the knock's counter here, at once, so that no
// later line can match the same counter while the opener is still writing
// it. Memory ahead of the disk only refuses more: the disk record stays the
// authority (Accept refuses a counter it already holds as used), and a
// crash before the write loses that one opening, never repeats one.
func (m *Monitor) handleKnock(pkt kernlog.Packet) {
	if j, ok := m.verify(pkt); ok {
		m.jobs <- j // the opener's queue; full, it holds the follower back
	}
}

// verify matches pkt against its profile's verifier and, if it is a fresh
// knock, takes its counter in memory and returns the opener's job.
func (m *Monitor) verify(pkt kernlog.Packet) (knockJob, bool) {
	start := time.Now()
	m.knockMu.Lock()
	defer m.knockMu.Unlock()
	st := m.state.Load()
	s := st.byPort[pkt.DstPort]
	if s == nil {
		return knockJob{}, false // the profile went away in a reload
	}
	if err := s.ensureVerifier(); err != nil {
		m.log.Error("profile not served: preparing its verifier failed", "profile", s.prof.Name, "err", err)
		return knockJob{}, false
	}
	f := knock.Fields{ID: pkt.ID, Seq: pkt.Seq, Ack: pkt.Ack, Window: pkt.Window}
	port, used, ok := s.match(f, knock.Binding{KnockPort: pkt.DstPort, Source: pkt.Src})
	if !ok {
		m.refuse(s, pkt.Src, s.noMatchReason())
		return knockJob{}, false
	}
	s.advance(uint64(used) + 1)
	return knockJob{st: st, s: s, src: pkt.Src, port: port, used: used,
		tm: knockTiming{start: start, verified: time.Now()}}, true
}

// A knockJob is an authentic knock on its way from the follower to the
// opener.
type knockJob struct {
	st   *state
	s    *served
	src  netip.Addr
	port uint16 // the port it asks for
	used uint32 // the counter that sealed it
	tm   knockTiming
}

// knockQueue is how many verified knocks may wait for the opener. The
// opener takes about a millisecond a knock (fdatasync and the gRPC call), so
// the follower reads on meanwhile; past this many it waits, and no knock is
// dropped.
const knockQueue = 64

// startOpener runs the opener until the returned stop is called; stop
// returns once every knock handed over before it has been handled. Once
// ctx is done, a knock whose opening fails is not tried again.
func (m *Monitor) startOpener(ctx context.Context) (stop func()) {
	jobs := make(chan knockJob, knockQueue)
	m.jobs = jobs
	done := make(chan struct{})
	go func() {
		defer close(done)
		for j := range jobs {
			m.record(ctx, j)
		}
	}()
	return func() {
		close(jobs)
		<-done
	}
}

// record stores an authentic knock's counter on disk, durably, and only
// then asks for its opening. It runs on the opener's goroutine, one knock
// at a time in the order the follower verified them, so a profile's counter
// on disk only ever grows.
func (m *Monitor) record(ctx context.Context, j knockJob) {
	j.tm.picked = time.Now()
	s := j.s
	if err := s.prof.Accept(j.used); err != nil {
		m.knockMu.Lock()
		defer m.knockMu.Unlock()
		if errors.Is(err, profile.ErrReplay) {
			m.refuse(s, j.src, "counter already used on disk: replayed")
			m.resync(s)
			return
		}
		m.log.Error("recording the knock counter failed; port not opened",
			"profile", s.prof.Name, "src", j.src, "port", j.port, "err", err)
		// Its counter is not used up on disk, so the same knock may come
		// again: the verifier is rebuilt from the disk on the next one.
		s.forget()
		return
	}
	m.counters.mark(s.prof) // its text file, later: see counterFiles
	if !s.allows(j.port) {
		// Authentic, so its counter is used up like any other; but the
		// profile may not open this port.
		m.knockMu.Lock()
		m.refuse(s, j.src, fmt.Sprintf("port %d is not in the profile's %s (%s)",
			j.port, profile.AllowedPortsKey, profile.FormatPorts(s.prof.AllowedPorts)))
		m.knockMu.Unlock()
		return
	}
	m.accepted.Add(1)
	j.tm.saved = time.Now()
	m.open(ctx, j)
}

// knockTiming records when an accepted knock's handling reached each step,
// so the "knock accepted" line can say where its time went (make bench
// reads it).
type knockTiming struct {
	start    time.Time // handleKnock called: the log line was parsed
	verified time.Time // a counter matched
	picked   time.Time // the opener took it from the queue
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
// knock is never dropped silently.
func (m *Monitor) open(ctx context.Context, j knockJob) {
	s, cfg := j.s, j.st.cfg
	req := firewall.OpenRequest{IP: j.src, Port: j.port, Duration: cfg.Delay, Profile: firewall.ProfileLabel(s.prof.Name)}
	op, err := m.openWithRetry(ctx, cfg.Socket, req)
	done := time.Now()
	if err != nil {
		m.failed.Add(1)
		m.log.Error("knock accepted but kk-firewall did not open the port",
			"profile", s.prof.Name, "src", j.src, "port", j.port, "socket", cfg.Socket, "err", err)
		return
	}
	m.opened.Add(1)
	tm := j.tm
	m.log.Info("knock accepted", "profile", s.prof.Name, "src", j.src, "port", j.port,
		"deadline", op.Deadline.UTC().Format("2006-01-02T15:04:05Z07:00"),
		"verify", tm.verified.Sub(tm.start), "handoff", tm.picked.Sub(tm.verified),
		"counter", tm.saved.Sub(tm.picked), "open", done.Sub(tm.saved))
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
