package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/kk-project/kk/pkg/proxy"
	"github.com/kk-project/kk/pkg/sdlog"
	"github.com/kk-project/kk/pkg/syn"
)

// runProxy parses the proxy command line and serves until SIGINT or SIGTERM.
func runProxy(args []string, stdout, stderr io.Writer) error {
	cfg, port, err := parseProxyFlags(args, stdout)
	if err != nil {
		return err
	}
	log := sdlog.New(stderr) // journal priorities only if stderr is the journal stream
	cfg.Logger = log
	cfg.Knocker = &syn.Knocker{}
	raw, err := syn.OpenRaw() // fail now, not at the first knocked connection
	if err != nil {
		return err
	}
	raw.Close()
	srv, err := proxy.New(cfg)
	if err != nil {
		return err
	}
	ls, err := proxy.Listen(port, log)
	if err != nil {
		return err
	}
	log.Warn("the proxy does not tell local users apart: any local user who can connect to it can make it knock with your profiles")
	for _, l := range ls {
		log.Info("listening", "addr", l.Addr().String(), "profiles", cfg.ProfilesDir, "wait", cfg.Wait, "attempts", cfg.Attempts)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = srv.Serve(ctx, ls...)
	log.Info("stopped")
	return err
}

func parseProxyFlags(args []string, stdout io.Writer) (proxy.Config, int, error) {
	var cfg proxy.Config
	fs := flag.NewFlagSet("kk-client proxy", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.DurationVar(&cfg.Wait, "wait", proxy.DefaultWait, "wait after each knock before dialling")
	fs.IntVar(&cfg.Attempts, "attempts", proxy.DefaultAttempts, "knock-then-dial attempts per knocked connection")
	fs.DurationVar(&cfg.DialTimeout, "dial-timeout", proxy.DefaultDialTimeout, "timeout of each dial")
	fs.StringVar(&cfg.ProfilesDir, "dir", "", "profiles directory, one subdirectory per host (default ~/.knockknock)")
	pos, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, knockUsage)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return cfg, 0, err
	}
	if err != nil {
		return cfg, 0, usage("proxy: %v", err)
	}
	port, err := checkProxyArgs(&cfg, pos)
	return cfg, port, err
}

func checkProxyArgs(cfg *proxy.Config, pos []string) (int, error) {
	if len(pos) != 1 {
		return 0, usage("proxy: want exactly one <listenPort>, got %d arguments", len(pos))
	}
	port, err := strconv.Atoi(pos[0])
	if err != nil || port < 0 || port > 65535 {
		return 0, usage("proxy: listen port %q must be a number between 0 and 65535", pos[0])
	}
	if cfg.Attempts < 1 {
		return 0, usage("proxy: --attempts %d must be at least 1", cfg.Attempts)
	}
	if cfg.Wait < 0 || cfg.DialTimeout <= 0 {
		return 0, usage("proxy: --wait must not be negative and --dial-timeout must be positive")
	}
	if cfg.ProfilesDir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return 0, fmt.Errorf("finding ~/.knockknock: %w; set HOME or give --dir", err)
		}
		cfg.ProfilesDir = filepath.Join(home, ".knockknock")
	}
	return port, nil
}

// parseInterleaved parses flags placed before or after positional arguments,
// so both `proxy 1080 --wait 1s` and `proxy --wait 1s 1080` work.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
