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

	"github.com/kk-project/kk/pkg/syn"
)

const knockUsage = `usage: kk-client -p <portToOpen> -s <host> [-4 | -6] [-d <profileDir>] [--nat-address ADDR]
       kk-client proxy [--nat-address ADDR] [--wait 250ms] [--attempts 3] [--dial-timeout 10s] [--delay 15s] [--dir ~/.knockknock]
                       [--unix PATH] [--insecure-no-auth] <listenPort>
`

// knockTimeout bounds name resolution and the send.
const knockTimeout = 30 * time.Second

// runKnock parses the knock command line and sends one knock.
func runKnock(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kk-client", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	port := fs.Int("p", 0, "port to open on the server, 1-65535")
	host := fs.String("s", "", "the server's host name, IPv4 or IPv6 address")
	dir := fs.String("d", "", "profile directory (default ~/.knockknock/<host>/, <host> as given to -s)")
	only4 := fs.Bool("4", false, "knock over IPv4 only")
	only6 := fs.Bool("6", false, "knock over IPv6 only (default: the family a TCP connection to the host would use)")
	var nat netip.Addr
	addNATFlag(fs, &nat)
	if err := parseKnockFlags(fs, args, stdout); err != nil {
		return err
	}
	if *port < 1 || *port > 65535 {
		return usage("-p %d: %v", *port, syn.ErrPort)
	}
	k := &syn.Knocker{NATAddress: nat}
	switch {
	case *only4 && *only6:
		return usage("-4 and -6 exclude each other")
	case *only4:
		k.Network = "ip4"
	case *only6:
		k.Network = "ip6"
	}
	// "[fd00::1]" is accepted as "fd00::1", so both use one profile directory.
	if h := *host; len(h) > 2 && h[0] == '[' && h[len(h)-1] == ']' {
		*host = h[1 : len(h)-1]
	}
	profileDir, err := defaultProfileDir(*dir, *host)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, knockTimeout)
	defer cancel()
	sent, err := k.KnockSent(ctx, *host, profileDir, uint16(*port))
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "Knock sent.")
	if note := natNote(sent, nat.IsValid()); note != "" {
		fmt.Fprintln(stderr, note)
	}
	return nil
}

func parseKnockFlags(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, knockUsage)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return err
	case err != nil:
		return usage("%v", err)
	case fs.NArg() > 0:
		return usage("unexpected argument %q", fs.Arg(0))
	case !isSet(fs, "s"):
		return usage("-s <host> is required")
	case !isSet(fs, "p"):
		return usage("-p <portToOpen> is required")
	}
	return nil
}

// defaultProfileDir returns dir, or ~/.knockknock/<host> when dir is empty.
func defaultProfileDir(dir, host string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding the default profile ~/.knockknock/%s: %w; set HOME or give the profile with -d", host, err)
	}
	return filepath.Join(home, ".knockknock", host), nil
}

func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func usage(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...), usage: knockUsage}
}
