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
//
// check prints one OK, WARN or FAIL line per finding, with the fix, and
// exits 1 if anything failed. Run it as root: it then judges the files and
// kk-firewall as kk-monitor's user (--user) sees them, and reads iptables.
//
// SIGHUP reloads the configuration and the profiles; SIGINT and SIGTERM stop.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/kk-project/kk/pkg/config"
	"github.com/kk-project/kk/pkg/profile"
	"github.com/kk-project/kk/pkg/sdlog"
)

const usage = `usage:
  kk-monitor [run] [--config FILE] [--profiles DIR] [--state DIR] [--log FILE] [--socket PATH]
             [--allow-root] [--from-start] [--exit-at-eof]
  kk-monitor genprofile [--profiles DIR] [--group NAME] [--allow-ports LIST] [--v2] <knockPort> <profileName>
  kk-monitor firewall-rules [--profiles DIR] [--config FILE] [--iptables] [--rate N] [--burst N]
  kk-monitor check [--config FILE] [--profiles DIR] [--log FILE] [--socket PATH] [--user NAME]
             [--groups LIST] [--timeout D]
`

// errUsage marks a command line error; main prints the usage after it.
var errUsage = errors.New("bad command line")

func main() {
	err := run(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return // the flag set printed the usage
	}
	if err != nil {
		fmt.Fprintln(sdlog.Writer(os.Stderr, slog.LevelError), "kk-monitor:", err)
		if errors.Is(err, errUsage) {
			fmt.Fprint(os.Stderr, usage)
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// run dispatches to the subcommand named by args[0], defaulting to run.
func run(args []string) error {
	cmd := "run"
	if len(args) > 0 && (args[0] == "run" || args[0] == "genprofile" || args[0] == "firewall-rules" || args[0] == "check") {
		cmd, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("kk-monitor "+cmd, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), usage, "\nflags:\n"); fs.PrintDefaults() }
	var f flags
	f.register(fs, cmd)
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch cmd {
	case "genprofile":
		return runGenprofile(f, fs.Args())
	case "firewall-rules":
		return runFirewallRules(f, fs.Args())
	case "check":
		return runCheck(f, fs.Args())
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
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
	check                           checkFlags
}

func (f *flags) register(fs *flag.FlagSet, cmd string) {
	fs.StringVar(&f.profiles, "profiles", config.DefaultProfilesDir, "profiles directory")
	if cmd == "genprofile" {
		fs.StringVar(&f.group, "group", profile.OwnerUser, "the group kk-monitor runs as, which may read the profile")
		fs.StringVar(&f.allowPorts, "allow-ports", "", "comma-separated ports the profile may open, written as allowed_ports (empty: any)")
		fs.BoolVar(&f.v2, "v2", false, "v2 knocks, bound to the client's address (version = 2; behind NAT the client needs --nat-address)")
		return
	}
	fs.StringVar(&f.config, "config", config.DefaultPath, "configuration file (INI, [main] section)")
	if cmd == "firewall-rules" {
		fs.BoolVar(&f.iptables, "iptables", false, "print the iptables commands for the knock ports instead of the port list")
		fs.IntVar(&f.rate, "rate", 10, "per-source LOG rate for knock ports, packets/s (as knockknock-firewall.sh -r)")
		fs.IntVar(&f.burst, "burst", 20, "per-source LOG burst for knock ports (as knockknock-firewall.sh -b)")
		return
	}
	if cmd == "check" {
		f.registerCheck(fs)
		return
	}
	fs.StringVar(&f.log, "log", "", "kernel log file to follow (overrides log_source and log_file)")
	fs.StringVar(&f.socket, "socket", "", "kk-firewall's unix socket (overrides socket)")
	fs.StringVar(&f.state, "state", "", "directory for the counters kk-monitor writes (overrides state_dir)")
	fs.BoolVar(&f.allowRoot, "allow-root", false, "run even as root (kk-monitor needs no privileges)")
	fs.BoolVar(&f.fromStart, "from-start", false, "read the log file from its start, not its end (replays)")
	fs.BoolVar(&f.exitAtEOF, "exit-at-eof", false, "exit at the end of the log file and print a summary (replays)")
}
