package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kk-project/kk/pkg/lowmem"
	"github.com/kk-project/kk/pkg/monitor"
	"github.com/kk-project/kk/pkg/sdlog"
	"github.com/kk-project/kk/pkg/version"
)

// runDaemon runs the monitor until SIGINT or SIGTERM, reloading on SIGHUP.
func runDaemon(f flags) error {
	log := sdlog.New(os.Stderr)
	slog.SetDefault(log)
	// Catch SIGHUP before loading, so an early reload is not fatal.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	m, err := monitor.New(monitor.Options{
		ConfigPath: f.config, ProfilesDir: f.profiles, StateDir: f.state, LogFile: f.log, Socket: f.socket,
		AllowRoot: f.allowRoot, FromStart: f.fromStart, ExitAtEOF: f.exitAtEOF, Logger: log,
	})
	if err != nil {
		return err
	}
	log.Info("kk-monitor started", "version", version.String(), "config", f.config, "log", m.LogSource())
	warnNetnsLogging(log, nil)
	// Once the follower runs, drop the pages only start-up needed.
	time.AfterFunc(time.Second, func() { releaseStartup(log) })
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// And again once a burst of knocks is over (see lowmem.ReleaseWhenQuiet).
	go lowmem.ReleaseWhenQuiet(ctx, quietPeriod, func() uint64 {
		s := m.Stats()
		return s.Accepted + s.Refused + s.Failed
	}, func(err error) { log.Warn("could not release memory; kk-monitor works but stays larger", "err", err) })
	go func() {
		for range hup {
			log.Info("SIGHUP: reloading")
			m.Reload()
			releaseStartup(log)
		}
	}()
	start := time.Now()
	err = m.Run(ctx)
	if f.exitAtEOF {
		printSummary(m.Stats(), time.Since(start))
	}
	return err
}

// printSummary prints the replay figures on stdout, with the peak resident
// set size (VmHWM) in kB.
func printSummary(s monitor.Stats, d time.Duration) {
	fmt.Printf("lines=%d accepted=%d opened=%d refused=%d failed=%d seconds=%.3f lines_per_second=%.0f max_rss_kb=%d\n",
		s.Lines, s.Accepted, s.Opened, s.Refused, s.Failed, d.Seconds(), float64(s.Lines)/d.Seconds(), peakRSS())
}

// peakRSS returns this process's VmHWM in kB, or 0 if unknown.
func peakRSS() int {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return kb
		}
	}
	return 0
}

// quietPeriod is how long kk-monitor must see no knock after one before it
// releases the memory serving it mapped.
const quietPeriod = 10 * time.Second

// releaseStartup returns to the system the memory that loading needed and
// watching does not (see pkg/lowmem): about half of the idle RSS.
func releaseStartup(log *slog.Logger) {
	if _, err := lowmem.ReleaseStartup(); err != nil {
		log.Warn("could not release start-up memory; kk-monitor works but stays larger", "err", err)
	}
}
