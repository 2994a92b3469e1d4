package main

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"

	"github.com/kk-project/kk/pkg/config"
	"github.com/kk-project/kk/pkg/monitor"
	"github.com/kk-project/kk/pkg/profile"
)

// runGenprofile creates a profile and says where it went and how to copy it.
func runGenprofile(f flags, args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("%w: genprofile takes <knockPort> <profileName>", errUsage)
	}
	port, err := strconv.Atoi(args[0])
	if err != nil {
		return fmt.Errorf("%w: knock port %q is not a number", errUsage, args[0])
	}
	gid, err := lookupGroup(f.group)
	if err != nil {
		return err
	}
	var allowed []uint16
	if f.allowPorts != "" {
		if allowed, err = profile.ParsePorts(f.allowPorts); err != nil {
			return fmt.Errorf("%w: --allow-ports %w", errUsage, err)
		}
	}
	version := 1
	if f.v2 {
		version = 2
	}
	p, err := profile.GenerateVersion(f.profiles, args[1], port, gid, allowed, version)
	if err != nil {
		return err
	}
	host, err := os.Hostname()
	if err != nil {
		host = "<this server>"
	}
	fmt.Printf("Created profile %s with knock port %d.\n", p.Name, p.KnockPort)
	if len(p.AllowedPorts) > 0 {
		fmt.Printf("It may open only ports %s (allowed_ports in %s).\n", profile.FormatPorts(p.AllowedPorts), profile.ConfigFile)
	}
	if p.Version == 2 {
		fmt.Printf("Its knocks are v2, bound to the address the server sees (version = 2 in %s):\n"+
			"a client behind NAT knocks with --nat-address <its public address>.\n", profile.ConfigFile)
	}
	fmt.Printf("Keys and counter written to %s/ (%s, %s, %s, %s).\n",
		p.Dir, profile.CipherKeyFile, profile.MACKeyFile, profile.CounterFile, profile.ConfigFile)
	if gid < 0 {
		fmt.Printf("Group %s does not exist, so only root may read the profile: create it (systemd-sysusers knockknock.conf),\n"+
			"then give it the profile: systemd-tmpfiles --create knockknock.conf\n", f.group)
	}
	fmt.Printf("Copy it to the client (kk-client -s %s finds it there):\n  %s\n", host, p.CopyCommand(host))
	fmt.Println("Then open the knock port in the firewall (knockknock-firewall.sh start) and reload: systemctl reload kk-monitor")
	return nil
}

// lookupGroup returns the id of group name, or -1 if there is no such
// group.
func lookupGroup(name string) (int, error) {
	g, err := user.LookupGroup(name)
	if errors.As(err, new(user.UnknownGroupError)) {
		return -1, nil
	}
	if err != nil {
		return 0, fmt.Errorf("looking up group %s: %w", name, err)
	}
	return strconv.Atoi(g.Gid)
}

// runFirewallRules prints the knock ports, or the iptables rules for them.
func runFirewallRules(f flags, args []string) error {
	if len(args) != 0 {
		return fmt.Errorf("%w: firewall-rules takes no arguments", errUsage)
	}
	ports, errs := monitor.KnockPorts(f.profiles)
	for _, err := range errs {
		fmt.Fprintln(os.Stderr, "kk-monitor: profile skipped:", err)
	}
	if len(ports) == 0 {
		return fmt.Errorf("no usable profile in %s: create one with 'kk-monitor genprofile <knockPort> <profileName>'", f.profiles)
	}
	if !f.iptables {
		fmt.Println(monitor.JoinPorts(ports))
		return nil
	}
	cfg, _, err := config.Load(f.config)
	if err != nil {
		return err
	}
	return monitor.WriteFirewallRules(os.Stdout, ports, cfg.LogPrefix, f.rate, f.burst)
}
