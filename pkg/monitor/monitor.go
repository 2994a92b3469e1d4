// Package monitor is kk-monitor's daemon: it follows the kernel log, verifies
// knocks against the profiles, records each accepted counter on disk and then
// asks kk-firewall, through a firewall.Manager, to open the requested port for
// the sender.
//
// The monitor holds no privileges. It reloads its configuration and profiles
// on demand (kk-monitor calls Reload on SIGHUP) without losing its place in
// the log.
package monitor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kk-project/kk/pkg/config"
	"github.com/kk-project/kk/pkg/firewall"
	"github.com/kk-project/kk/pkg/fwrpc"
	"github.com/kk-project/kk/pkg/kernlog"
)

// Options configure a Monitor. Empty override fields leave the configuration
// file's value in place.
type Options struct {
	ConfigPath  string // the configuration file; "" means config.DefaultPath
	ProfilesDir string // "" means config.DefaultProfilesDir
	StateDir    string // overrides state_dir, where the counters are written
	LogFile     string // overrides log_file and forces log_source = file
	Socket      string // overrides socket
	AllowRoot   bool   // permit running as uid 0

	FromStart bool // read the log file from its start, not its end
	ExitAtEOF bool // stop at the end of the log file (replays)

	// JournalctlArgs replaces kernlog.JournalctlArgs when log_source is
	// journald; tests point it at a journal file. On a restart after a
	// failure, its -n option gives way to --after-cursor (--since if no entry
	// was read yet).
	JournalctlArgs []string
	// Dial connects to kk-firewall; nil means fwrpc.Dial. It is called again
	// when the helper is unreachable, so a restarted helper is found quickly.
	Dial func(socket string) (firewall.Manager, error)
	// RetryFor bounds how long an unreachable helper is retried per knock;
	// zero means 5 s.
	RetryFor time.Duration
	Logger   *slog.Logger     // nil means slog.Default()
	Now      func() time.Time // nil means time.Now

	// Stat looks up the log file and rsyslogd, to resolve log_source = auto
	// and to warn while the log file is missing; nil means os.Stat.
	Stat func(name string) (fs.FileInfo, error)
	// SilentAfter is how long the log source may deliver no line with the
	// log prefix before a warning says what may be wrong; zero means 10
	// minutes.
	SilentAfter time.Duration
	// watchTick, if not nil, replaces the watchdog's ticker, so that tests
	// decide when it looks: it looks on each channel received, and closes
	// that channel when done.
	watchTick <-chan chan struct{}
}

// Stats count what the monitor has seen. They are read with Monitor.Stats.
type Stats struct {
	Lines    uint64 // log lines read
	Accepted uint64 // knocks verified and recorded
	Opened   uint64 // openings kk-firewall confirmed
	Refused  uint64 // knocks to a knock port that did not verify
	Failed   uint64 // accepted knocks kk-firewall could not open
}

// A Monitor watches the kernel log for knocks. Create it with New; its
// methods are safe for concurrent use.
type Monitor struct {
	opts  Options
	log   *slog.Logger
	state atomic.Pointer[state]

	knockMu  sync.Mutex             // serialises knock handling with state swaps
	limiters map[string]*suppressor // per profile, guarded by knockMu
	restart  chan struct{}          // a reload changed the log source
	reloadMu sync.Mutex             // one reload at a time

	fwMu sync.Mutex       // one call to kk-firewall at a time
	fw   firewall.Manager // guarded by fwMu; nil until first use

	// knocks is the knock worker's queue (startKnocks): the follower sends
	// each candidate; only the goroutine running Run uses it.
	knocks chan<- candidate

	counters *counterFiles // state counter files behind their records

	lines, accepted, opened, refused, failed atomic.Uint64
	prefixed                                 atomic.Uint64 // lines carrying the log prefix
	long                                     longLines     // lines dropped as too long

	// Lines of a log file not yet added to lines and prefixed: handleSyslog
	// counts here and publishCounts adds them once per read, since an
	// atomic add per line cost a fifth of a line's handling. Only the
	// goroutine running Run uses them.
	fileLines, filePrefixed uint64
}

// New checks the privileges, loads the configuration and profiles and
// connects to kk-firewall lazily. Profiles that fail to load are logged and
// skipped; only an unusable configuration is an error.
func New(opts Options) (*Monitor, error) {
	if os.Geteuid() == 0 && !opts.AllowRoot {
		return nil, errors.New("refusing to run as root: kk-monitor needs no privileges and reads untrusted log lines; " +
			"run it as the knockknock user (the systemd unit does), or pass --allow-root for a test")
	}
	opts = withDefaults(opts)
	m := &Monitor{opts: opts, log: opts.Logger, limiters: map[string]*suppressor{}, restart: make(chan struct{}, 1),
		counters: newCounterFiles()}
	st, err := m.loadState()
	if err != nil {
		return nil, err
	}
	m.state.Store(st)
	debug.FreeOSMemory() // building verifiers leaves garbage; keep RSS small
	return m, nil
}

func withDefaults(o Options) Options {
	if o.ConfigPath == "" {
		o.ConfigPath = config.DefaultPath
	}
	if o.ProfilesDir == "" {
		o.ProfilesDir = config.DefaultProfilesDir
	}
	if o.Dial == nil {
		o.Dial = func(socket string) (firewall.Manager, error) { return fwrpc.Dial(socket) }
	}
	if o.RetryFor == 0 {
		o.RetryFor = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Stat == nil {
		o.Stat = os.Stat
	}
	if o.SilentAfter == 0 {
		o.SilentAfter = defaultSilentAfter
	}
	return o
}

// LogSource returns where the monitor reads the kernel log: "journald" or
// the log file's path. A reload may change it.
func (m *Monitor) LogSource() string { return m.state.Load().source() }

// Stats returns the counts so far.
func (m *Monitor) Stats() Stats {
	return Stats{m.lines.Load(), m.accepted.Load(), m.opened.Load(), m.refused.Load(), m.failed.Load()}
}

// Run follows the log until ctx is done and returns nil, or, with ExitAtEOF,
// until the end of the log file. If following fails (journalctl exits, the
// file cannot be read) it logs why and starts again after a pause.
//
// A restart after a failure goes on where the failed follower stopped (the
// file offset, or the journal cursor of the last entry read), so lines
// written in the pause are not lost and none is read twice; a changed log
// source is followed from its end.
//
// Meanwhile a watchdog warns while the log file is missing or the source
// delivers no line with the log prefix; see Options.SilentAfter.
func (m *Monitor) Run(ctx context.Context) error {
	defer m.closeFirewall()
	defer m.flushAllRefusals()
	defer m.startCounterFiles(ctx)()
	defer m.startKnocks(ctx)() // stops before the counter files: it marks them
	if !m.opts.ExitAtEOF {
		stop := m.startWatchdog(ctx)
		defer stop()
	}
	var at place
	for {
		st := m.state.Load()
		if st.source() != at.source {
			at = place{source: st.source()}
		}
		err := m.follow(ctx, st, &at)
		switch {
		case ctx.Err() != nil:
			return nil
		case m.opts.ExitAtEOF:
			return err
		case errors.Is(err, errRestart):
			continue
		}
		m.log.Error("following the kernel log failed; retrying in 1s", "source", st.source(), "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

var errRestart = errors.New("log source changed")

// A place is where following a log source stopped, kept across restarts of
// the follower so that nothing logged in between is lost or read twice.
type place struct {
	source string           // the source the place belongs to
	pos    kernlog.Position // in the log file
	cursor kernlog.Cursor   // in the journal
}

// follow reads the state's log source until ctx is done, the source fails or
// a reload changes the source. It starts at, and updates, the place at.
func (m *Monitor) follow(ctx context.Context, st *state, at *place) error {
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	restarted := make(chan struct{})
	go func() {
		select {
		case <-m.restart:
			close(restarted)
			cancel()
		case <-fctx.Done():
		}
	}()
	var err error
	if st.cfg.LogSource == config.SourceJournald {
		opt := kernlog.JournalOptions{Resume: &at.cursor}
		err = kernlog.FollowJournal(fctx, m.journalArgs(), opt, m.handleJournal)
	} else {
		opt := kernlog.FileOptions{FromStart: m.opts.FromStart, ExitAtEOF: m.opts.ExitAtEOF, Resume: &at.pos,
			TooLong: m.lineTooLong, Read: m.publishCounts}
		err = kernlog.FollowFile(fctx, st.cfg.LogFile, opt, m.handleSyslog)
		m.publishCounts()
	}
	select {
	case <-restarted:
		return errRestart
	default:
	}
	if err == nil && ctx.Err() == nil && !m.opts.ExitAtEOF {
		err = fmt.Errorf("%s stopped", st.source())
	}
	return err
}

func (m *Monitor) journalArgs() []string {
	if len(m.opts.JournalctlArgs) > 0 {
		return m.opts.JournalctlArgs
	}
	return kernlog.JournalctlArgs
}

// handleSyslog handles one line of a syslog file. It counts the line in
// fileLines (and filePrefixed), which publishCounts adds to the shared
// counts after each read and before a knock is handled.
func (m *Monitor) handleSyslog(line []byte) {
	m.fileLines++
	st := m.state.Load()
	pkt, v := st.parser.ParseSyslog(line)
	if hasPrefix(v) {
		m.filePrefixed++
	}
	if v == kernlog.Knock {
		m.publishCounts()
		m.handleKnock(pkt)
	}
}

// publishCounts adds the lines handleSyslog counted to the shared counts
// that Stats and the watchdog read.
func (m *Monitor) publishCounts() {
	if m.fileLines > 0 {
		m.lines.Add(m.fileLines)
		m.fileLines = 0
	}
	if m.filePrefixed > 0 {
		m.prefixed.Add(m.filePrefixed)
		m.filePrefixed = 0
	}
}

// handleJournal handles one JSON entry from journalctl.
func (m *Monitor) handleJournal(line []byte) {
	m.lines.Add(1)
	st := m.state.Load()
	pkt, v := st.parser.ParseJournalJSON(line)
	m.countPrefixed(v)
	if v == kernlog.Knock {
		m.handleKnock(pkt)
	}
}
