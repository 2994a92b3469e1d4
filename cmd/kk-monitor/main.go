// Command kk-monitor is kk's unprivileged knock watcher. It follows the kernel
// log (a file such as /var/log/kern.log, or the journal), verifies knocks
// against the profiles in /etc/knockknock.d/profiles and asks kk-firewall to
// open the requested ports.
//
// Usage:
//
//	kk-monitor [run] [flags]                        follow the log (default)
//	kk-monitor genprofile [--profiles DIR] [--group NAME] [--allow-ports LIST] [--v2] <knockPort> <profileName>
//	kk-monitor firewall-rules [--profiles DIR] [--config FILE] [--iptables]
//	kk-monitor check [flags]                        can this server receive knocks?
//	kk-monitor status [--json]                      what kk-monitor serves
//	kk-monitor help [--roff] [knockknock.conf]      the manual
//
// Invoked as knockknock-daemon it runs the daemon, and as
// knockknock-genprofile it is genprofile: the original knockknock's names.
// The manual (manual.go) is what --help, help and the man pages print.
//
// SIGHUP reloads the configuration and the profiles; SIGINT and SIGTERM stop.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"

	"github.com/kk-project/kk/pkg/config"
	"github.com/kk-project/kk/pkg/profile"
	"github.com/kk-project/kk/pkg/sdlog"
	"github.com/kk-project/kk/pkg/version"
)

// errUsage marks a command line error; main prints the usage after it.
var errUsage = errors.New("bad command line")

// commands are the subcommands, in the order the manual lists them.
var commands = []string{"run", "genprofile", "firewall-rules", "check", "status", "help"}

// originalNames maps the original knockknock's command names, under which
// kk-monitor may be installed as a symlink, to the subcommand they run.
var originalNames = map[string]string{
	"knockknock-daemon":     "run",
	"knockknock-genprofile": "genprofile",
}

func main() {
	args := os.Args[1:]
	if cmd, ok := originalNames[filepath.Base(os.Args[0])]; ok {
		args = append([]string{cmd}, args...)
	}
	code := exitCode(run(args), os.Stdout, os.Stderr)
	stopProfiling()
	os.Exit(code)
}

// stopProfiling ends a CPU profile started by cpuprofile.go, which only a
// build with the kkprofile tag contains.
var stopProfiling = func() {}

// exitCode reports err as main does and returns the exit status: 0, 1 for
// a failure, 2 for a usage error (after the usage).
func exitCode(err error, stdout, stderr io.Writer) int {
	var help helpRequest
	switch {
	case err == nil:
		return 0
	case errors.As(err, &help):
		usagePage(help.cmd).Usage(stdout)
		return 0
	}
	fmt.Fprintln(sdlog.Writer(stderr, slog.LevelError), "kk-monitor:", err)
	var bad usageError
	if errors.As(err, &bad) {
		fmt.Fprintln(stderr)
		usagePage(bad.cmd).Usage(stderr)
	}
	if errors.Is(err, errUsage) {
		return 2
	}
	return 1
}

// helpRequest is returned for --help or -h: main prints cmd's usage on
// stdout and exits 0.
type helpRequest struct{ cmd string }

func (h helpRequest) Error() string { return "help requested" }

// usageError is a command line error in cmd ("" when no subcommand was
// named), after which main prints cmd's usage.
type usageError struct {
	cmd string
	err error
}

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

// run dispatches to the subcommand named by args[0], defaulting to run.
func run(args []string) error {
	cmd, named := "run", ""
	if len(args) > 0 && slices.Contains(commands, args[0]) {
		cmd, named, args = args[0], args[0], args[1:]
	}
	var f flags
	fs := f.flagSet(cmd)
	fs.SetOutput(io.Discard) // exitCode prints the errors and the usage
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return helpRequest{named}
		}
		return usageError{named, fmt.Errorf("%w: %v", errUsage, err)}
	}
	if *showVersion {
		fmt.Println(version.Line("kk-monitor"))
		return nil
	}
	err := runCommand(cmd, f, fs.Args())
	if errors.Is(err, errUsage) {
		return usageError{named, err}
	}
	return err
}

func runCommand(cmd string, f flags, args []string) error {
	switch cmd {
	case "genprofile":
		return runGenprofile(f, args)
	case "firewall-rules":
		return runFirewallRules(f, args)
	case "check":
		return runCheck(f, args)
	case "status":
		return runStatus(f, args)
	case "help":
		return runHelp(f, args, os.Stdout)
	}
	if len(args) > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, args[0])
	}
	return runDaemon(f)
}

// flags holds every subcommand's flags.
type flags struct {
	config, profiles, log, socket   string
	state, group, allowPorts        string
	allowRoot, fromStart, exitAtEOF bool
	v2                              bool
	iptables                        bool
	rate, burst                     int
	json, roff                      bool
	check                           checkFlags
}

// flagSet returns cmd's flag set, bound to f. The manual lists the same
// flag sets, so it shows exactly the flags each command parses.
func (f *flags) flagSet(cmd string) *flag.FlagSet {
	fs := flag.NewFlagSet("kk-monitor "+cmd, flag.ContinueOnError)
	f.register(fs, cmd)
	return fs
}

func (f *flags) register(fs *flag.FlagSet, cmd string) {
	if cmd == "help" {
		fs.BoolVar(&f.roff, "roff", false, "print the page as roff, for man, instead of plain text")
		return
	}
	fs.StringVar(&f.profiles, "profiles", config.DefaultProfilesDir, "the profiles `dir`ectory")
	if cmd == "genprofile" {
		fs.StringVar(&f.group, "group", profile.OwnerUser, "the `group` kk-monitor runs as, which may read the profile")
		fs.StringVar(&f.allowPorts, "allow-ports", "", "comma-separated `ports` the profile may open, written as allowed_ports (empty: any)")
		fs.BoolVar(&f.v2, "v2", false, "v2 knocks, bound to the client's address (version = 2; behind NAT the client needs --nat-address)")
		return
	}
	fs.StringVar(&f.config, "config", config.DefaultPath, "configuration `file` (INI, [main] section; see knockknock.conf(5))")
	switch cmd {
	case "firewall-rules":
		fs.BoolVar(&f.iptables, "iptables", false, "print the iptables commands for the knock ports instead of the port list")
		fs.IntVar(&f.rate, "rate", 10, "per-source LOG rate for knock ports, `n` packets/s (as knockknock-firewall.sh -r)")
		fs.IntVar(&f.burst, "burst", 20, "per-source LOG burst for knock ports, `n` packets (as knockknock-firewall.sh -b)")
		return
	case "check":
		f.registerCheck(fs)
		return
	case "status":
		fs.StringVar(&f.state, "state", "", "the `dir`ectory of kk-monitor's counters (as kk-monitor's --state; overrides state_dir)")
		fs.BoolVar(&f.json, "json", false, "print one JSON object instead of lines")
		return
	}
	fs.StringVar(&f.log, "log", "", "kernel log `file` to follow (overrides log_source and log_file)")
	fs.StringVar(&f.socket, "socket", "", "kk-firewall's unix socket `path` (overrides socket)")
	fs.StringVar(&f.state, "state", "", "the `dir`ectory for the counters kk-monitor writes (overrides state_dir)")
	fs.BoolVar(&f.allowRoot, "allow-root", false, "run even as root (kk-monitor needs no privileges)")
	fs.BoolVar(&f.fromStart, "from-start", false, "read the log file from its start, not its end (replays)")
	fs.BoolVar(&f.exitAtEOF, "exit-at-eof", false, "exit at the end of the log file and print a summary (replays)")
}
