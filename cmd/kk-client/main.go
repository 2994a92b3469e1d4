// Command kk-client sends a knockknock knock, or runs a knock-aware SOCKS5
// proxy.
//
//	kk-client -p <portToOpen> -s <host> [-4 | -6] [-d <profileDir>]
//	kk-client proxy [--wait 250ms] [--attempts 3] [--dial-timeout 10s] [--delay 15s] [--dir ~/.knockknock]
//	                [--unix PATH] [--insecure-no-auth] <listenPort>
//
// The proxy on TCP asks for the user name and password in
// ~/.knockknock/proxy-credentials, created at its first start; on --unix it
// serves only the user who runs it.
//
// Exit status: 0 on success, 1 on an error, 2 on a usage error, 3 when the
// CAP_NET_RAW capability needed for the raw socket is missing.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/kk-project/kk/pkg/sdlog"
	"github.com/kk-project/kk/pkg/syn"
)

// Exit codes.
const (
	exitError = 1
	exitUsage = 2
	exitCap   = 3
)

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	os.Exit(report(err, sdlog.Writer(os.Stderr, slog.LevelError)))
}

// run dispatches to the knock or the proxy command.
func run(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "proxy" {
		return runProxy(args[1:], stdout, stderr)
	}
	return runKnock(args, stdout, stderr)
}

// A usageError is a mistake on the command line; its usage text is printed
// with it.
type usageError struct {
	msg   string
	usage string
}

func (e *usageError) Error() string { return e.msg }

// report prints err for the user and returns the exit code it calls for.
func report(err error, stderr io.Writer) int {
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "kk-client: %s\n%s", ue.msg, ue.usage)
		return exitUsage
	case errors.Is(err, syn.ErrNoCapability):
		fmt.Fprintf(stderr, "kk-client: %v\n", err)
		return exitCap
	default:
		fmt.Fprintf(stderr, "kk-client: %v\n", err)
		return exitError
	}
}
