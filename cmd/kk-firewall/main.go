// Command kk-firewall is kk's root-only firewall helper. It serves the
// knockknock.firewall.v1 gRPC API on a unix socket, passed by systemd socket
// activation or created with --listen, and opens TCP ports for one source
// address at a time in the KNOCKKNOCK iptables chain. Its list and revoke
// commands show and close the openings through that socket.
//
// The whole manual is in manual.go: kk-firewall help, or man kk-firewall.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/kk-project/kk/pkg/firewall"
	"github.com/kk-project/kk/pkg/sdlog"
	"github.com/kk-project/kk/pkg/version"
)

func main() {
	os.Exit(command(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit statuses, as the manual's EXIT STATUS section lists them.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitNotFound    = 3
	exitUnavailable = 4
	exitPermission  = 5
)

// command runs kk-firewall with args and returns its exit status.
func command(args []string, stdout, stderr io.Writer) int {
	name := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	switch name {
	case "run":
		return runCommand(args, stdout, stderr)
	case "list":
		return listCommand(args, stdout, stderr)
	case "revoke":
		return revokeCommand(args, stdout, stderr)
	case "cleanup":
		return cleanupCommand(args, stdout, stderr)
	case "help":
		return helpCommand(args, stdout, stderr)
	case "version":
		if len(args) > 0 {
			return usageError(stderr, fmt.Errorf("version takes no arguments, got %q", args))
		}
		fmt.Fprintln(stdout, version.Line("kk-firewall"))
		return exitOK
	}
	return usageError(stderr, fmt.Errorf("unknown command %q", name))
}

func runCommand(args []string, stdout, stderr io.Writer) int {
	var o options
	rest, code := parseArgs(runFlags(&o), args, stdout, stderr)
	switch {
	case code >= 0:
		return code
	case len(rest) > 0:
		return usageError(stderr, fmt.Errorf("unexpected argument %q (commands go first: kk-firewall COMMAND [options])", rest[0]))
	}
	if err := run(o); err != nil {
		return fail(stderr, err)
	}
	return exitOK
}

func cleanupCommand(args []string, stdout, stderr io.Writer) int {
	rest, code := parseArgs(cleanupFlags(), args, stdout, stderr)
	switch {
	case code >= 0:
		return code
	case len(rest) > 0:
		return usageError(stderr, fmt.Errorf("cleanup takes no arguments, got %q", rest))
	}
	if err := firewall.Cleanup(); err != nil {
		return fail(stderr, err)
	}
	return exitOK
}

func helpCommand(args []string, stdout, stderr io.Writer) int {
	var roff bool
	rest, code := parseArgs(helpFlags(&roff), args, stdout, stderr)
	switch {
	case code >= 0:
		return code
	case len(rest) > 0:
		return usageError(stderr, fmt.Errorf("help takes no arguments, got %q", rest))
	case roff:
		page().Roff(stdout, version.String())
	default:
		page().Text(stdout)
	}
	return exitOK
}

// parseArgs parses args with fs, allowing flags after the positional
// arguments (kk-firewall revoke IP PORT --json), and returns the positional
// ones. code is exitOK after --help, which printed the usage, or after
// --version, which printed the version; exitUsage
// after a bad flag, which printed the error and the usage, and -1 when the
// command should go on.
func parseArgs(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (rest []string, code int) {
	for {
		err := fs.Parse(args)
		switch {
		case errors.Is(err, flag.ErrHelp):
			page().Usage(stdout)
			return nil, exitOK
		case err != nil:
			return nil, usageError(stderr, err)
		}
		used := len(args) - fs.NArg()
		if fs.NArg() == 0 || (used > 0 && args[used-1] == "--") {
			if v := fs.Lookup("version"); v != nil && v.Value.String() == "true" {
				fmt.Fprintln(stdout, version.Line("kk-firewall"))
				return nil, exitOK
			}
			return append(rest, fs.Args()...), -1
		}
		rest, args = append(rest, fs.Arg(0)), fs.Args()[1:]
	}
}

// usageError prints err and the usage, and returns exitUsage.
func usageError(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "kk-firewall: %v\n\n", err)
	page().Usage(stderr)
	return exitUsage
}

// fail prints err and returns the exit status that matches it.
func fail(stderr io.Writer, err error) int {
	fmt.Fprintln(sdlog.Writer(stderr, slog.LevelError), "kk-firewall:", err)
	switch {
	case errors.Is(err, firewall.ErrNotFound):
		return exitNotFound
	case errors.Is(err, firewall.ErrUnavailable):
		return exitUnavailable
	case errors.Is(err, firewall.ErrPermission):
		return exitPermission
	}
	return exitFailure
}
