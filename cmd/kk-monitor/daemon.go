package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kk-project/kk/pkg/monitor"
)

// runDaemon runs the monitor until SIGINT or SIGTERM, reloading on SIGHUP.
func runDaemon(f flags) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	slog.SetDefault(log)
	// Catch SIGHUP before loading, so an early reload is not fatal.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	m, err := monitor.New(monitor.Options{
		ConfigPath: f.config, ProfilesDir: f.profiles, LogFile: f.log, Socket: f.socket,
		AllowRoot: f.allowRoot, FromStart: f.fromStart, ExitAtEOF: f.exitAtEOF, Logger: log,
	})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		for range hup {
			log.Info("SIGHUP: reloading")
			m.Reload()
		}
	}()
	start := time.Now()
	err = m.Run(ctx)
	if f.exitAtEOF {
		printSummary(m.Stats(), time.Since(start))
	}
	return err
}

// printSummary prints the replay figures on stdout.
func printSummary(s monitor.Stats, d time.Duration) {
	fmt.Printf("lines=%d accepted=%d opened=%d refused=%d failed=%d seconds=%.3f lines_per_second=%.0f\n",
		s.Lines, s.Accepted, s.Opened, s.Refused, s.Failed, d.Seconds(), float64(s.Lines)/d.Seconds())
}
