package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/kk-project/kk/pkg/proxy"
	"github.com/kk-project/kk/pkg/sdlog"
	"github.com/kk-project/kk/pkg/sudo"
	"github.com/kk-project/kk/pkg/syn"
	"github.com/kk-project/kk/pkg/version"
)

// proxyOptions are the proxy's command line beyond proxy.Config.
type proxyOptions struct {
	port     int    // TCP port on loopback; -1: none
	unixPath string // unix socket; "": none
	nat      netip.Addr
	version  bool
}

// runProxy parses the proxy command line and serves until SIGINT or SIGTERM.
func runProxy(prog string, args []string, stdout, stderr io.Writer) error {
	cfg, opts, err := parseProxyFlags(prog, args)
	if err != nil {
		return err
	}
	if opts.version {
		fmt.Fprintln(stdout, version.Line(prog))
		return nil
	}
	log := sdlog.New(stderr) // journal priorities only if stderr is the journal stream
	cfg.Logger = log
	knocker := &syn.Knocker{NATAddress: opts.nat}
	cfg.Knocker = knocker
	open4, open6 := openClose(syn.OpenRaw), openClose(syn.OpenRaw6)
	if u, ok := sudo.Invoker(); ok && (u.Owns(cfg.ProfilesDir) || u.Owns(filepath.Dir(cfg.ProfilesDir))) {
		// Run with sudo for the raw sockets: the profiles are the user's,
		// so the proxy serves as the user, with root given up once the
		// sockets are open; its credentials file is the user's too.
		s := syn.OpenSockets()
		defer s.Close()
		if err := u.Become(); err != nil {
			return err
		}
		knocker.Sockets = s
		open4 = func() error { _, err := s.For(netip.IPv4Unspecified()); return err }
		open6 = func() error { _, err := s.For(netip.IPv6Unspecified()); return err }
	}
	if err := checkRaw(log, open4, open6); err != nil {
		return err
	}
	ls, err := proxyListeners(&cfg, opts)
	if err != nil {
		return err
	}
	srv, err := proxy.New(cfg)
	if err != nil {
		closeAll(ls)
		return err
	}
	for _, l := range ls {
		log.Info("listening", "addr", l.Addr().String(), "profiles", cfg.ProfilesDir, "wait", cfg.Wait,
			"attempts", cfg.Attempts, "delay", cfg.Delay)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = srv.Serve(ctx, ls...)
	log.Info("stopped")
	return err
}

// checkRaw opens the raw sockets knocks need, IPv4 and IPv6, so a missing
// capability fails now rather than at the first knocked connection. A host
// that cannot send IPv6 knocks (IPv6 disabled; before Linux 4.5, or on
// macOS and FreeBSD, no IPV6_HDRINCL) is not refused: the proxy serves and logs that it cannot knock IPv6 destinations.
func checkRaw(log *slog.Logger, open4, open6 func() error) error {
	if err := open4(); err != nil {
		return err
	}
	if err := open6(); errors.Is(err, syn.ErrNoCapability) {
		return err
	} else if err != nil {
		log.Warn("IPv6 destinations cannot be knocked: " + err.Error())
	}
	return nil
}

// openClose turns a raw socket opener into a check that closes the socket.
func openClose(open func() (*syn.RawConn, error)) func() error {
	return func() error {
		raw, err := open()
		if err == nil {
			raw.Close()
		}
		return err
	}
}

// proxyListeners opens the listeners opts ask for, and sets up and
// announces how clients authenticate on them.
func proxyListeners(cfg *proxy.Config, opts proxyOptions) ([]net.Listener, error) {
	log := cfg.Logger
	var ls []net.Listener
	if opts.port >= 0 {
		tcp, err := proxy.Listen(opts.port, log)
		if err != nil {
			return nil, err
		}
		ls = append(ls, tcp...)
		if err := tcpAuth(cfg, tcp[0].Addr().String()); err != nil {
			closeAll(ls)
			return nil, err
		}
	}
	if opts.unixPath != "" {
		l, err := proxy.ListenUnix(opts.unixPath)
		if err != nil {
			closeAll(ls)
			return nil, err
		}
		log.Info("the unix socket serves only your own user, as the kernel names the peer, without a password",
			"use", "curl --proxy socks5h://localhost"+opts.unixPath+" URL")
		ls = append(ls, l)
	}
	return ls, nil
}

// tcpAuth loads or creates the credentials TCP clients must give, unless
// --insecure-no-auth, and says how to use them.
func tcpAuth(cfg *proxy.Config, addr string) error {
	log := cfg.Logger
	if cfg.NoAuth {
		log.Warn("--insecure-no-auth: the proxy does not tell local users apart: any local user who can connect to it can make it knock with your profiles")
		return nil
	}
	if err := os.MkdirAll(cfg.ProfilesDir, 0o700); err != nil {
		return fmt.Errorf("creating the profiles directory for the proxy's credentials: %w", err)
	}
	path := filepath.Join(cfg.ProfilesDir, proxy.CredentialsFile)
	creds, created, err := proxy.LoadCredentials(path, log)
	if err != nil {
		return err
	}
	cfg.Credentials = creds
	if created {
		log.Info("created SOCKS5 credentials", "file", path)
	}
	log.Info("TCP clients must give the SOCKS5 user name and password in "+path,
		"use", fmt.Sprintf(`curl --socks5-hostname "$(cat %s)@%s" URL`, path, addr))
	return nil
}

func closeAll(ls []net.Listener) {
	for _, l := range ls {
		l.Close()
	}
}

// proxyFlags registers the proxy's flags; the manual lists the same set.
func proxyFlags(prog string) (*flag.FlagSet, *proxy.Config, *proxyOptions) {
	var cfg proxy.Config
	opts := proxyOptions{port: -1}
	fs := flag.NewFlagSet(prog, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.DurationVar(&cfg.Wait, "wait", proxy.DefaultWait, "wait after each knock before dialling")
	fs.IntVar(&cfg.Attempts, "attempts", proxy.DefaultAttempts, "knock-then-dial attempts per knocked connection")
	fs.DurationVar(&cfg.DialTimeout, "dial-timeout", proxy.DefaultDialTimeout, "timeout of each dial")
	fs.DurationVar(&cfg.Delay, "delay", proxy.DefaultDelay, "the server's delay: a knock is reused this long, and at most 10 knocks go to a host in it")
	fs.StringVar(&cfg.ProfilesDir, "dir", "", "the profiles `directory`, one subdirectory per host (default ~/.knockknock)")
	fs.StringVar(&opts.unixPath, "unix", "", "also (or, without <listenPort>, only) serve on the unix socket at `path`, for your own user only")
	addNATFlag(fs, &opts.nat)
	fs.BoolVar(&cfg.NoAuth, "insecure-no-auth", false, "serve TCP without a user name and password: any local user can make the proxy knock")
	fs.BoolVar(&opts.version, "version", false, "print the version and exit")
	return fs, &cfg, &opts
}

func parseProxyFlags(prog string, args []string) (proxy.Config, proxyOptions, error) {
	fs, cfg, opts := proxyFlags(prog)
	pos, err := parseInterleaved(fs, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return *cfg, *opts, err
	case err != nil:
		return *cfg, *opts, usage("%v", err)
	case opts.version:
		return *cfg, *opts, nil
	}
	err = checkProxyArgs(cfg, opts, pos)
	return *cfg, *opts, err
}

func checkProxyArgs(cfg *proxy.Config, opts *proxyOptions, pos []string) error {
	if len(pos) > 1 || len(pos) == 0 && opts.unixPath == "" {
		return usage("want exactly one <listenPort> (or --unix PATH), got %d arguments", len(pos))
	}
	if len(pos) == 1 {
		port, err := strconv.Atoi(pos[0])
		if err != nil || port < 0 || port > 65535 {
			return usage("listen port %q must be a number between 0 and 65535", pos[0])
		}
		opts.port = port
	}
	if cfg.Attempts < 1 {
		return usage("--attempts %d must be at least 1", cfg.Attempts)
	}
	if cfg.Wait < 0 || cfg.DialTimeout <= 0 {
		return usage("--wait must not be negative and --dial-timeout must be positive")
	}
	if cfg.Delay < time.Second || cfg.Delay > time.Hour {
		return usage("--delay %v must be between 1s and 1h, like the server's delay", cfg.Delay)
	}
	if cfg.ProfilesDir == "" {
		home, err := homeDir()
		if err != nil {
			return fmt.Errorf("finding ~/.knockknock: %w; set HOME or give --dir", err)
		}
		cfg.ProfilesDir = filepath.Join(home, ".knockknock")
	}
	return nil
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
