// Command kk-client sends a knockknock knock, or runs a knock-aware SOCKS5
// proxy. It also answers to the original's names, read from argv[0]:
// knockknock knocks and knockknock-proxy runs the proxy.
//
//	kk-client -p <portToOpen> -s <host> [-4 | -6] [-d <profileDir>]
//	kk-client -p <portToOpen> [-4 | -6] [-d <profileDir>] <host>
//	kk-client proxy [--wait 250ms] [--attempts 3] [--dial-timeout 10s] [--delay 15s] [--dir ~/.knockknock]
//	                [--unix PATH] [--insecure-no-auth] <listenPort>
//	kk-client help [--roff]
//	knockknock -p <portToOpen> [-s] <host> [-d <profileDir>]
//	knockknock-proxy <listenPort>
//
// The proxy on TCP asks for the user name and password in
// ~/.knockknock/proxy-credentials, created at its first start; on --unix it
// serves only the user who runs it.
//
// Exit status: 0 on success, 1 on an error, 2 on a usage error, 3 when the
// permission to open the raw socket is missing (CAP_NET_RAW on Linux, root
// on macOS and FreeBSD).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/kk-project/kk/pkg/sdlog"
	"github.com/kk-project/kk/pkg/syn"
	"github.com/kk-project/kk/pkg/version"
)

// Exit codes.
const (
	exitError = 1
	exitUsage = 2
	exitCap   = 3
)

// The names this binary answers to besides its own: the original
// knockknock's commands, installed as symlinks to it.
const (
	progClient = "kk-client"
	progKnock  = "knockknock"
	progProxy  = "knockknock-proxy"
)

func main() {
	prog := filepath.Base(os.Args[0])
	err := run(prog, os.Args[1:], os.Stdout, os.Stderr)
	os.Exit(report(err, sdlog.Writer(os.Stderr, slog.LevelError)))
}

// run dispatches on the name the binary was invoked as, prog, and on the
// subcommand: knockknock-proxy is the proxy, anything else knocks unless
// its first argument is proxy or help.
func run(prog string, args []string, stdout, stderr io.Writer) error {
	if prog != progKnock && prog != progProxy {
		prog = progClient
	}
	cmd, runCmd := prog, runKnock
	switch {
	case prog == progProxy:
		runCmd = runProxy
	case len(args) > 0 && args[0] == "proxy":
		cmd, runCmd, args = prog+" proxy", runProxy, args[1:]
	case len(args) > 0 && args[0] == "help":
		cmd, runCmd, args = prog+" help", runHelp, args[1:]
	}
	err := runCmd(prog, args, stdout, stderr)
	var ue *usageError
	switch {
	case errors.Is(err, flag.ErrHelp):
		newPage().Usage(stdout)
		return nil
	case errors.As(err, &ue):
		ue.cmd = cmd
	case err != nil:
		err = &commandError{cmd: prog, err: err}
	}
	return err
}

// runHelp prints the whole manual, as text or, with --roff, as the man page.
func runHelp(_ string, args []string, stdout, _ io.Writer) error {
	page := newPage()
	switch {
	case len(args) == 0:
		page.Text(stdout)
	case len(args) == 1 && args[0] == "--roff":
		page.Roff(stdout, version.String())
	default:
		return usage("unexpected argument %q: the only option is --roff", args[0])
	}
	return nil
}

// A usageError is a mistake on the command line; the usage is printed with
// it.
type usageError struct {
	cmd string // the command it was made in: "kk-client proxy"
	msg string
}

func (e *usageError) Error() string { return e.msg }

func usage(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// A commandError is an error of the command run as cmd.
type commandError struct {
	cmd string
	err error
}

func (e *commandError) Error() string { return e.cmd + ": " + e.err.Error() }
func (e *commandError) Unwrap() error { return e.err }

// report prints err for the user and returns the exit code it calls for.
func report(err error, stderr io.Writer) int {
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "%s: %s\n", ue.cmd, ue.msg)
		newPage().Usage(stderr)
		return exitUsage
	case errors.Is(err, syn.ErrNoCapability):
		fmt.Fprintln(stderr, err)
		return exitCap
	default:
		fmt.Fprintln(stderr, err)
		return exitError
	}
}
