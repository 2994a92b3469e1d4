package monitor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"github.com/kk-project/kk/pkg/config"
	"github.com/kk-project/kk/pkg/kernlog"
)

const (
	// defaultSilentAfter is Options.SilentAfter's default. A host whose
	// REJECT rules are loaded logs every packet to a closed port, so ten
	// quiet minutes are rare unless something is broken.
	defaultSilentAfter = 10 * time.Minute
	// missingEvery is how often a missing log file, or one that is not a
	// regular file, is warned about again.
	missingEvery = 5 * time.Minute
	// watchEvery is how often the watchdog looks.
	watchEvery = 15 * time.Second
)

// countPrefixed counts a line whose message carries the log prefix, which
// is what the watchdog waits for: other kernel lines show that the source
// works, but only prefixed ones show that the LOG rules and the prefix do.
func (m *Monitor) countPrefixed(v kernlog.Verdict) {
	if hasPrefix(v) {
		m.prefixed.Add(1)
	}
}

// hasPrefix reports whether a line with verdict v carried the log prefix.
func hasPrefix(v kernlog.Verdict) bool {
	return v != kernlog.NotKernel && v != kernlog.NoPrefix
}

// startWatchdog looks at the log source now and then every watchEvery (or
// on each Options.watchTick) until ctx is done or stop is called; stop
// returns once it has finished.
func (m *Monitor) startWatchdog(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var tick <-chan time.Time
		if m.opts.watchTick == nil {
			t := time.NewTicker(watchEvery)
			defer t.Stop()
			tick = t.C
		}
		var w watchdog
		w.check(m, m.opts.Now())
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick:
				w.check(m, m.opts.Now())
			case done := <-m.opts.watchTick:
				w.check(m, m.opts.Now())
				close(done)
			}
		}
	}()
	return func() { cancel(); wg.Wait() }
}

// A watchdog warns when the log source looks broken: the log file does not
// exist or is not a regular file, or no line with the log prefix has arrived
// for SilentAfter. It warns once per silent stretch and says when prefixed
// lines arrive again. The zero value starts watching at its first check. It
// is unsafe for concurrent use.
type watchdog struct {
	source   string    // the source watched, as state.source() names it
	since    time.Time // when the current stretch without a prefixed line began
	lines    uint64    // lines read when it began
	prefixed uint64    // prefixed lines read when it began
	warned   bool      // the stretch was warned about
	misses   int       // consecutive checks that found the log file missing
	warning  string    // the last warning about the log file; "" if it is fine now
	warnedAt time.Time // when that warning was given
}

// check looks at the monitor's source at now.
func (w *watchdog) check(m *Monitor, now time.Time) {
	st := m.state.Load()
	lines, prefixed := m.lines.Load(), m.prefixed.Load()
	first := st.source() != w.source // the first check, or a reload switched sources
	if first {
		*w = watchdog{source: st.source()}
		w.begin(now, lines, prefixed)
	}
	if w.checkFile(m, st, now, first) {
		w.begin(now, lines, prefixed) // the log file is the cause, and is warned about
		return
	}
	switch {
	case prefixed != w.prefixed:
		if w.warned {
			m.log.Info(fmt.Sprintf("kernel log lines with log_prefix %q arrive again from %s after %s",
				st.cfg.LogPrefix, w.source, now.Sub(w.since).Round(time.Second)))
		}
		w.begin(now, lines, prefixed)
	case !w.warned && now.Sub(w.since) >= m.opts.SilentAfter:
		m.log.Warn(silenceWarning(st, m.opts.ConfigPath, now.Sub(w.since), lines != w.lines))
		w.warned = true
	}
}

// begin starts a silent stretch at now, when lines and prefixed lines had
// been read.
func (w *watchdog) begin(now time.Time, lines, prefixed uint64) {
	w.since, w.lines, w.prefixed, w.warned = now, lines, prefixed, false
}

// checkFile warns when the log file being followed does not exist or is
// not a regular file (the follower waits for one without reading): at the
// first check, or for a missing file once two checks in a row found it
// missing (rotation leaves it missing for a moment), then every
// missingEvery while it stays so, and at once if the warning changes. It
// reports whether the file is unusable.
func (w *watchdog) checkFile(m *Monitor, st *state, now time.Time, first bool) bool {
	if st.cfg.LogSource != config.SourceFile {
		return false
	}
	file := st.cfg.LogFile
	fi, err := m.opts.Stat(file)
	var warning string
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if w.misses++; !first && w.misses < 2 {
			return true
		}
		warning = missingWarning(file, m.opts.ConfigPath, config.RsyslogInstalled(m.opts.Stat))
	case err == nil && kernlog.CheckRegular(fi) != nil:
		w.misses = 0
		warning = notRegularWarning(file, kernlog.CheckRegular(fi), m.opts.ConfigPath)
	default: // fine, or an error that stops the follower, which logs it
		if w.warning != "" {
			m.log.Info(fmt.Sprintf("log file %s exists now as a regular file", file))
		}
		w.misses, w.warning = 0, ""
		return false
	}
	if warning != w.warning || now.Sub(w.warnedAt) >= missingEvery {
		m.log.Warn(warning)
		w.warning, w.warnedAt = warning, now
	}
	return true
}

// notRegularWarning says that the log file is not a regular file, as err
// (from kernlog.CheckRegular) describes, and how to fix it.
func notRegularWarning(file string, err error, configPath string) string {
	return fmt.Sprintf("log file %s is %v: log_file must be a regular file; point log_file in %s at rsyslog's kern.log "+
		"(/var/log/kern.log) or set log_source = journald; knocks are not seen until it is one", file, err, configPath)
}

// missingWarning says that the log file does not exist and how to fix it.
func missingWarning(file, configPath string, rsyslog bool) string {
	fix := "install rsyslog (apt-get install rsyslog)"
	if rsyslog {
		fix = "check that rsyslog runs and writes kern.* there (systemctl status rsyslog)"
	}
	return fmt.Sprintf("log file %s does not exist: %s or set log_source = journald in %s; "+
		"knocks are not seen until it appears", file, fix, configPath)
}

// silenceWarning says that no prefixed line arrived for d and what may be
// wrong; others tells whether other kernel lines arrived meanwhile.
func silenceWarning(st *state, configPath string, d time.Duration, others bool) string {
	rules := "are the LOG rules loaded (systemctl status knockknock-firewall, knockknock-firewall.sh show)?"
	quiet := " Expected only if no packet reached a closed port meanwhile."
	d = d.Round(time.Second)
	if others {
		return fmt.Sprintf("no kernel log line with log_prefix %q from %s for %s, though other kernel lines arrived: "+
			"%s Does log_prefix in %s equal the rules' --log-prefix?%s", st.cfg.LogPrefix, st.source(), d, rules, configPath, quiet)
	}
	source := "does rsyslog run and write kern.* to it (systemctl status rsyslog)?"
	if st.cfg.LogSource == config.SourceJournald {
		source = "does the journal receive kernel messages, and may kk-monitor's user read them " +
			"(journalctl -k -n 5 as that user; group adm or systemd-journal; a container's journal usually has none)?"
	}
	return fmt.Sprintf("no kernel log line at all from %s for %s: %s Also, %s%s", st.source(), d, source, rules, quiet)
}
