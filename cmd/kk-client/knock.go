package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/kk-project/kk/pkg/sudo"
	"github.com/kk-project/kk/pkg/syn"
	"github.com/kk-project/kk/pkg/version"
)

// knockTimeout bounds a knock at a host name: its resolution and the send.
const knockTimeout = 30 * time.Second

// knockOptions is the knock's command line.
type knockOptions struct {
	port         int
	host         string
	dir          string
	only4, only6 bool
	nat          netip.Addr
	version      bool
}

// knockFlags registers the knock's flags; the manual lists the same set.
func knockFlags(prog string) (*flag.FlagSet, *knockOptions) {
	var o knockOptions
	fs := flag.NewFlagSet(prog, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.IntVar(&o.port, "p", 0, "the `port` to open on the server, 1-65535")
	fs.StringVar(&o.host, "s", "", "the server's `host` name, IPv4 or IPv6 address; it may be given instead as the last argument")
	fs.StringVar(&o.dir, "d", "", "the profile `directory` (default ~/.knockknock/<host>/, <host> as given on the command line)")
	fs.BoolVar(&o.only4, "4", false, "knock over IPv4 only")
	fs.BoolVar(&o.only6, "6", false, "knock over IPv6 only (default: the family a TCP connection to the host would use)")
	addNATFlag(fs, &o.nat)
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	return fs, &o
}

// runKnock parses the knock command line and sends one knock.
func runKnock(prog string, args []string, stdout, stderr io.Writer) error {
	fs, o := knockFlags(prog)
	if err := parseKnockFlags(fs, o, args); err != nil {
		return err
	}
	if o.version {
		fmt.Fprintln(stdout, version.Line(prog))
		return nil
	}
	if o.port < 1 || o.port > 65535 {
		return usage("-p %d: %v", o.port, syn.ErrPort)
	}
	k := &syn.Knocker{NATAddress: o.nat}
	switch {
	case o.only4 && o.only6:
		return usage("-4 and -6 exclude each other")
	case o.only4:
		k.Network = "ip4"
	case o.only6:
		k.Network = "ip6"
	}
	// "[fd00::1]" is accepted as "fd00::1", so both use one profile directory.
	if h := o.host; len(h) > 2 && h[0] == '[' && h[len(h)-1] == ']' {
		o.host = h[1 : len(h)-1]
	}
	profileDir, err := defaultProfileDir(o.dir, o.host, homeDir)
	if err != nil {
		return err
	}
	if invoker, underSudo := sudo.Invoker(); underSudo && invoker.Owns(profileDir) {
		// Run with sudo for the raw socket, as the original's README
		// says: the profile is the user's, so it is read, and its counter
		// written, as the user, with root given up once the sockets are
		// open.
		k.Sockets = syn.OpenSockets()
		defer k.Sockets.Close()
		if err := invoker.Become(); err != nil {
			return err
		}
	}
	ctx := context.Background()
	if _, err := netip.ParseAddr(o.host); err != nil {
		// Only a name lookup can take long enough for Ctrl-C to need a
		// clean stop and a timeout; for an address, the signal goroutines
		// and their threads would only delay the knock.
		var stop, cancel context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
		ctx, cancel = context.WithTimeout(ctx, knockTimeout)
		defer cancel()
	}
	sent, err := k.KnockSent(ctx, o.host, profileDir, uint16(o.port))
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "Knock sent.")
	if note := natNote(sent, o.nat.IsValid()); note != "" {
		fmt.Fprintln(stderr, note)
	}
	return nil
}

// parseKnockFlags parses args into o. The host is given with -s, as the
// original's README does, or as the one argument, as in its
// `knockknock -p 22 myserver.com`; flags may come before or after it.
func parseKnockFlags(fs *flag.FlagSet, o *knockOptions, args []string) error {
	pos, err := parseInterleaved(fs, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return err
	case err != nil:
		return usage("%v", err)
	case o.version:
		return nil
	case len(pos) > 1:
		return usage("one host, please: got %q and %q", pos[0], pos[1])
	case len(pos) == 1 && isSet(fs, "s"):
		return usage("host given twice, -s %q and %q: give it once, with -s or as the last argument", o.host, pos[0])
	case len(pos) == 1:
		o.host = pos[0]
	case !isSet(fs, "s"):
		return usage("-s <host> is required (or the host as the last argument)")
	}
	if !isSet(fs, "p") {
		return usage("-p <portToOpen> is required")
	}
	return nil
}

// defaultProfileDir returns dir, or ~/.knockknock/<host> when dir is empty,
// ~ being what home returns.
func defaultProfileDir(dir, host string, home func() (string, error)) (string, error) {
	if dir != "" {
		return dir, nil
	}
	homeDir, err := home()
	if err != nil {
		return "", fmt.Errorf("finding the default profile ~/.knockknock/%s: %w; set HOME or give the profile with -d", host, err)
	}
	return filepath.Join(homeDir, ".knockknock", host), nil
}

// homeDir returns the directory ~ stands for: under sudo, the invoking
// user's home, as the original knockknock found it.
func homeDir() (string, error) {
	if u, ok := sudo.Invoker(); ok {
		return u.Home()
	}
	return os.UserHomeDir()
}

func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
