package main

import (
	"flag"
	"io"
	"time"

	"github.com/kk-project/kk/pkg/config"
	"github.com/kk-project/kk/pkg/firewall"
)

// The flag sets are built here once for parsing and for the manual, so the
// man page lists exactly the flags the commands accept.

// runFlags registers the daemon's flags (kk-firewall [run]) into o.
func runFlags(o *options) *flag.FlagSet {
	fs := newFlagSet("kk-firewall")
	fs.StringVar(&o.listen, "listen", config.DefaultSocket, "unix `socket` to create when not socket-activated")
	fs.StringVar(&o.allowUsers, "allow-user", "", "comma-separated `users` or uids allowed to open ports besides root (the monitor user, e.g. knockknock)")
	fs.StringVar(&o.allowPorts, "allow-ports", "", "comma-separated TCP `ports` that may be opened, or \"profiles\": the allowed_ports of the profiles in --profiles (empty: any)")
	fs.StringVar(&o.profiles, "profiles", config.DefaultProfilesDir, "profiles `directory` read by --allow-ports=profiles")
	fs.DurationVar(&o.policy.MaxDuration, "max-duration", firewall.DefaultMaxDuration, "longest opening allowed")
	fs.IntVar(&o.policy.MaxOpenings, "max-openings", firewall.DefaultMaxOpenings, "most live openings allowed")
	fs.DurationVar(&o.idleExit, "idle-exit", 60*time.Second, "exit after this long with no RPC and no pending opening (0: never)")
	fs.StringVar(&o.backend, "backend", string(firewall.BackendAuto), "how an opening's rule is written: \"auto\" (over nf_tables netlink where iptables is iptables-nft and the start-up check passes, else by running iptables) or \"iptables\" (always run iptables)")
	fs.BoolVar(&o.policy.AllowLoopback, "allow-loopback", false, "accept loopback source addresses (for tests only)")
	versionFlag(fs)
	return fs
}

// adminOptions are the flags of kk-firewall list and revoke.
type adminOptions struct {
	socket  string
	json    bool
	timeout time.Duration
}

// adminFlags registers the flags list and revoke share into a.
func adminFlags(name string, a *adminOptions) *flag.FlagSet {
	fs := newFlagSet(name)
	fs.StringVar(&a.socket, "socket", config.DefaultSocket, "kk-firewall's unix `socket`")
	fs.BoolVar(&a.json, "json", false, "print JSON instead of a table (see JSON OUTPUT)")
	fs.DurationVar(&a.timeout, "timeout", 10*time.Second, "give up when kk-firewall has not answered after this long")
	versionFlag(fs)
	return fs
}

// cleanupFlags returns the flag set of kk-firewall cleanup.
func cleanupFlags() *flag.FlagSet {
	fs := newFlagSet("kk-firewall cleanup")
	versionFlag(fs)
	return fs
}

// versionFlag registers --version, which parseArgs answers for every
// command.
func versionFlag(fs *flag.FlagSet) {
	fs.Bool("version", false, "print the version and exit")
}

// helpFlags registers the flag of kk-firewall help into roff.
func helpFlags(roff *bool) *flag.FlagSet {
	fs := newFlagSet("kk-firewall help")
	fs.BoolVar(roff, "roff", false, "print the manual as a man(7) page")
	return fs
}

// newFlagSet returns a silent flag set: the commands print the manual's
// usage themselves.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}
