package monitor

import (
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kk-project/kk/pkg/kernlog"
)

// A fakeClock is a time that moves only when told. It is safe for
// concurrent use.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// watched runs the monitor with opts, a fake clock and the watchdog's
// ticks in the test's hands.
type watched struct {
	*harness
	clock *fakeClock
	ticks chan chan struct{}
}

// watchOptions returns opts with a fake clock and a tick channel.
func (h *harness) watchOptions(opts Options) (Options, *watched) {
	w := &watched{harness: h, clock: &fakeClock{now: time.Date(2026, 11, 26, 11, 0, 0, 0, time.UTC)},
		ticks: make(chan chan struct{})}
	opts.Now, opts.watchTick = w.clock.Now, w.ticks
	return opts, w
}

// run runs the monitor like harness.run and returns once the watchdog has
// first looked, so that it started at the clock's start.
func (w *watched) run(opts Options) {
	w.t.Helper()
	w.harness.run(opts)
	w.tick(0)
}

// tick moves the clock by d and returns once the watchdog has looked at
// the new time.
func (w *watched) tick(d time.Duration) {
	w.t.Helper()
	w.clock.advance(d)
	done := make(chan struct{})
	timeout := time.After(20 * time.Second)
	select {
	case w.ticks <- done:
	case <-timeout:
		w.t.Fatal("the watchdog took no tick")
	}
	select {
	case <-done:
	case <-timeout:
		w.t.Fatal("the watchdog did not finish looking")
	}
}

// count returns how often s occurs in the monitor's log.
func (h *harness) count(s string) int { return strings.Count(h.logs.String(), s) }

// rejectLine returns a kern.log line the REJECT rules write for a packet
// to a port that is no knock port: it carries the log prefix.
func rejectLine() string {
	pkt := kernlog.Packet{Src: netip.MustParseAddr("203.0.113.7"), DstPort: 80, ID: 1, Seq: 2, Window: 3}
	return kernlog.FormatSyslog(time.Now(), "kkhost", "REJECT ", pkt)
}

// appendUntilRead appends line until the monitor has read a line, as
// syncFollower does with lines of its own: a follower that has not yet
// reached the end of the file would skip a line appended once.
func (h *harness) appendUntilRead(line string) {
	h.t.Helper()
	before := h.m.Stats().Lines
	for i := 0; i < 400; i++ {
		h.appendLines(line)
		time.Sleep(25 * time.Millisecond)
		if h.m.Stats().Lines > before {
			return
		}
	}
	h.t.Fatal("monitor never read the log")
}

// TestLogSourceResolvedAtLoad: log_source = auto follows the file where
// rsyslog writes it and the journal otherwise, --log forces the file, and
// one INFO line says which and why. In want and log, $LOG stands for the
// harness's kern.log.
func TestLogSourceResolvedAtLoad(t *testing.T) {
	tests := []struct {
		name, config     string
		rsyslog, logFlag bool
		want, log        string // the state's source; the INFO line's message
	}{
		{"auto with rsyslog", "", true, false,
			"$LOG", "log source: file (auto: $LOG exists and rsyslogd is installed)"},
		{"auto without rsyslog", "", false, false,
			"journald", "log source: journald (auto: $LOG exists but rsyslogd is not installed"},
		{"explicit file without rsyslog", "log_source = file\n", false, false,
			"$LOG", "log source: file (log_source = file)"},
		{"explicit journald", "log_source = journald\n", true, false,
			"journald", "log source: journald (log_source = journald)"},
		{"--log over journald", "log_source = journald\n", false, true,
			"$LOG.flag", "log source: file (--log $LOG.flag)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.writeConfig(tt.config)
			opts := h.options()
			opts.Stat = h.stat(tt.rsyslog)
			if tt.logFlag {
				opts.LogFile = h.logPath + ".flag"
			}
			m, err := New(opts)
			if err != nil {
				t.Fatal(err)
			}
			want, log := strings.ReplaceAll(tt.want, "$LOG", h.logPath), strings.ReplaceAll(tt.log, "$LOG", h.logPath)
			if got := m.state.Load().source(); got != want {
				t.Errorf("source %q, want %q", got, want)
			}
			if !strings.Contains(h.logs.String(), log) {
				t.Errorf("no %q in the log:\n%s", log, h.logs.String())
			}
		})
	}
}

// TestAutoWithoutLogFileFollowsJournal: on a stock Debian 12 (no rsyslog,
// no kern.log) the default configuration reads the journal.
func TestAutoWithoutLogFileFollowsJournal(t *testing.T) {
	h := newHarness(t)
	must(t, os.Remove(h.logPath))
	opts := h.options()
	opts.Stat = h.stat(false)
	m, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.state.Load().source(); got != "journald" {
		t.Errorf("source %q, want journald", got)
	}
	if want := "log source: journald (auto: " + h.logPath + " does not exist)"; !strings.Contains(h.logs.String(), want) {
		t.Errorf("no %q in the log:\n%s", want, h.logs.String())
	}
}

// TestMissingLogFileWarns: a configured log file that does not exist is
// warned about at once, with the fix, again only every few minutes, and
// followed once it appears.
func TestMissingLogFileWarns(t *testing.T) {
	h := newHarness(t)
	h.writeConfig("log_source = file\n")
	must(t, os.Remove(h.logPath))
	opts := h.options()
	opts.Stat = h.stat(false)
	opts, w := h.watchOptions(opts)
	w.run(opts)
	warning := "log file " + h.logPath + " does not exist: install rsyslog (apt-get install rsyslog) " +
		"or set log_source = journald in " + h.configPath
	h.waitFor("the missing-file warning", func() bool { return h.count(warning) == 1 })
	w.tick(time.Minute)
	w.tick(missingEvery - time.Minute - time.Second)
	if n := h.count(warning); n != 1 {
		t.Errorf("warned %d times within %s, want once", n, missingEvery)
	}
	w.tick(time.Second)
	if n := h.count(warning); n != 2 {
		t.Errorf("warned %d times after %s, want twice", n, missingEvery)
	}
	if n := h.count("no kernel log line"); n != 0 {
		t.Errorf("silence warned %d times while the file is missing", n)
	}

	h.appendLines("Nov 26 11:00:00 kkhost kernel: rsyslog started")
	h.syncFollower()
	w.tick(time.Second)
	if n := h.count("log file " + h.logPath + " exists now"); n != 1 {
		t.Errorf("file's appearance logged %d times, want once:\n%s", n, h.logs.String())
	}
	w.tick(missingEvery)
	if n := h.count(warning); n != 2 {
		t.Errorf("warned %d times in all, want twice", n)
	}
}

// TestMissingLogFileWithRsyslog: where rsyslog is installed the fix is to
// look at rsyslog, not to install it.
func TestMissingLogFileWithRsyslog(t *testing.T) {
	h := newHarness(t)
	h.writeConfig("log_source = file\n")
	must(t, os.Remove(h.logPath))
	opts, _ := h.watchOptions(h.options())
	h.run(opts)
	warning := "log file " + h.logPath + " does not exist: check that rsyslog runs and writes kern.* there " +
		"(systemctl status rsyslog) or set log_source = journald in " + h.configPath
	h.waitFor("the missing-file warning", func() bool { return h.count(warning) == 1 })
}

// TestSilentSourceWarns: a log file that delivers no line at all is warned
// about after SilentAfter and not before, once, naming the source and what
// to check; when lines with the prefix come, that is logged.
func TestSilentSourceWarns(t *testing.T) {
	h := newHarness(t)
	opts := h.options()
	opts.SilentAfter = 7 * time.Minute
	opts, w := h.watchOptions(opts)
	w.run(opts) // not start: it would write lines
	warning := "no kernel log line at all from " + h.logPath + " for 7m0s: does rsyslog run"
	w.tick(opts.SilentAfter - time.Second)
	if n := h.count("no kernel log line"); n != 0 {
		t.Fatalf("silence warned %d times before %s:\n%s", n, opts.SilentAfter, h.logs.String())
	}
	w.tick(time.Second)
	if n := h.count(warning); n != 1 {
		t.Fatalf("silence warned %d times after %s, want once:\n%s", n, opts.SilentAfter, h.logs.String())
	}
	for _, s := range []string{"systemctl status rsyslog", "systemctl status knockknock-firewall", "knockknock-firewall.sh show"} {
		if !strings.Contains(h.logs.String(), s) {
			t.Errorf("the warning does not mention %s", s)
		}
	}
	w.tick(time.Hour)
	if n := h.count("no kernel log line"); n != 1 {
		t.Errorf("silence warned %d times in one silent stretch, want once", n)
	}

	h.appendUntilRead(rejectLine())
	w.tick(time.Second)
	resumed := "kernel log lines with log_prefix \\\"REJECT \\\" arrive again from " + h.logPath + " after 1h7m1s"
	if n := h.count(resumed); n != 1 {
		t.Errorf("%q logged %d times, want once:\n%s", resumed, n, h.logs.String())
	}
	h.appendUntilRead(rejectLine())
	w.tick(time.Second)
	if n := h.count("arrive again"); n != 1 {
		t.Errorf("recovery logged %d times, want once: a stretch that was not warned about ended", n)
	}
	// A new silent stretch starts with the line, and is warned about again.
	w.tick(opts.SilentAfter - time.Second)
	if n := h.count("no kernel log line"); n != 1 {
		t.Errorf("silence warned %d times before the new stretch's %s", n, opts.SilentAfter)
	}
	w.tick(time.Second)
	if n := h.count(warning); n != 2 {
		t.Errorf("silence warned %d times after the new stretch, want twice", n)
	}
}

// TestUnprefixedLinesOnlyWarns: kernel lines that arrive without the log
// prefix do not count as life; the warning then points at the rules and the
// prefix rather than at the source.
func TestUnprefixedLinesOnlyWarns(t *testing.T) {
	h := newHarness(t)
	h.writeConfig(`log_prefix = "KNOCK "` + "\n")
	opts, w := h.watchOptions(h.options())
	w.run(opts)
	h.appendLines(rejectLine())
	h.syncFollower() // its lines carry no prefix either
	w.tick(defaultSilentAfter - time.Second)
	if n := h.count("no kernel log line"); n != 0 {
		t.Fatalf("silence warned %d times before %s", n, defaultSilentAfter)
	}
	w.tick(time.Second)
	warning := "no kernel log line with log_prefix \\\"KNOCK \\\" from " + h.logPath +
		" for 10m0s, though other kernel lines arrived: are the LOG rules loaded"
	if n := h.count(warning); n != 1 {
		t.Fatalf("%q logged %d times, want once:\n%s", warning, n, h.logs.String())
	}
	if want := "Does log_prefix in " + h.configPath + " equal the rules' --log-prefix?"; !strings.Contains(h.logs.String(), want) {
		t.Errorf("the warning does not say %q", want)
	}
}

// TestJournaldSilenceNamesJournal: the silence warning for the journal
// points at the journal, not at rsyslog.
func TestJournaldSilenceNamesJournal(t *testing.T) {
	h := newHarness(t)
	h.writeConfig("log_source = journald\n")
	opts := h.options()
	opts.JournalctlArgs = []string{"sleep", "3600"} // a journalctl that stays open and prints nothing
	opts, w := h.watchOptions(opts)
	w.run(opts)
	w.tick(defaultSilentAfter)
	want := "no kernel log line at all from journald for 10m0s: does the journal receive kernel messages"
	if n := h.count(want); n != 1 {
		t.Fatalf("%q logged %d times, want once:\n%s", want, n, h.logs.String())
	}
	if strings.Contains(h.logs.String(), "rsyslog") {
		t.Errorf("the journal's warning mentions rsyslog")
	}
}

// TestLogFileGoneWarnsOnSecondLook: a log file that disappears while
// followed is warned about only if it is still missing at the next look,
// since rotation leaves it missing for a moment.
func TestLogFileGoneWarnsOnSecondLook(t *testing.T) {
	h := newHarness(t)
	opts, w := h.watchOptions(h.options())
	w.run(opts)
	must(t, os.Rename(h.logPath, h.logPath+".1"))
	w.tick(watchEvery)
	if n := h.count("does not exist"); n != 0 {
		t.Fatalf("warned %d times at the first look", n)
	}
	w.tick(watchEvery)
	if n := h.count("log file " + h.logPath + " does not exist: check that rsyslog runs"); n != 1 {
		t.Fatalf("warned %d times at the second look, want once:\n%s", n, h.logs.String())
	}
}
