// Command kk-firewall is kk's root-only firewall helper. It serves the
// knockknock.firewall.v1 gRPC API on a unix socket, passed by systemd socket
// activation or created with --listen, and opens TCP ports for one source
// address at a time in the KNOCKKNOCK iptables chain.
//
// Usage:
//
//	kk-firewall [flags]      serve
//	kk-firewall cleanup      delete the KNOCKKNOCK chain and its INPUT jump
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/kk-project/kk/pkg/config"
	"github.com/kk-project/kk/pkg/firewall"
	"github.com/kk-project/kk/pkg/sdlog"
)

func main() {
	var o options
	fs := flag.NewFlagSet("kk-firewall", flag.ExitOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: kk-firewall [flags]\n       kk-firewall cleanup\n\nflags:\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&o.listen, "listen", "/run/knockknock/firewall.sock", "unix socket to create when not socket-activated")
	fs.StringVar(&o.allowUsers, "allow-user", "", "comma-separated users or uids allowed to call besides root (the monitor user, e.g. knockknock)")
	fs.StringVar(&o.allowPorts, "allow-ports", "", "comma-separated TCP ports that may be opened, or \"profiles\": the allowed_ports of the profiles in --profiles (empty: any)")
	fs.StringVar(&o.profiles, "profiles", config.DefaultProfilesDir, "profiles directory read by --allow-ports=profiles")
	fs.DurationVar(&o.policy.MaxDuration, "max-duration", firewall.DefaultMaxDuration, "longest opening allowed")
	fs.IntVar(&o.policy.MaxOpenings, "max-openings", firewall.DefaultMaxOpenings, "most live openings allowed")
	fs.DurationVar(&o.idleExit, "idle-exit", 60*time.Second, "exit after this long with no RPC and no pending opening (0: never)")
	fs.BoolVar(&o.policy.AllowLoopback, "allow-loopback", false, "accept loopback source addresses (for tests only)")
	fs.Parse(os.Args[1:])
	o.args = fs.Args()
	if err := run(o); err != nil {
		fmt.Fprintln(sdlog.Writer(os.Stderr, slog.LevelError), "kk-firewall:", err)
		os.Exit(1)
	}
}
