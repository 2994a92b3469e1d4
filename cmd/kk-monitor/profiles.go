package main

import (
	"fmt"
	"os"
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
	p, err := profile.Generate(f.profiles, args[1], port)
	if err != nil {
		return err
	}
	host, err := os.Hostname()
	if err != nil {
		host = "<this server>"
	}
	fmt.Printf("Created profile %s with knock port %d.\n", p.Name, p.KnockPort)
	fmt.Printf("Keys and counter written to %s/ (%s, %s, %s, %s).\n",
		p.Dir, profile.CipherKeyFile, profile.MACKeyFile, profile.CounterFile, profile.ConfigFile)
	fmt.Printf("Copy it to the client (kk-client -s %s finds it there):\n  %s\n", host, p.CopyCommand(host))
	fmt.Println("Then open the knock port in the firewall (knockknock-firewall.sh start) and reload: systemctl reload kk-monitor")
	return nil
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
