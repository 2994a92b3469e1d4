package main

import (
	"flag"
	"fmt"
	"net/netip"
)

// natFlag is --nat-address: the address a v2 knock is bound to instead of
// this machine's own source address toward the server.
type natFlag struct{ addr *netip.Addr }

func (f natFlag) String() string {
	if f.addr == nil || !f.addr.IsValid() {
		return ""
	}
	return f.addr.String()
}

func (f natFlag) Set(s string) error {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return fmt.Errorf("not an IP address: %w", err)
	}
	*f.addr = a.Unmap()
	return nil
}

// addNATFlag registers --nat-address on fs, storing into addr.
func addNATFlag(fs *flag.FlagSet, addr *netip.Addr) {
	fs.Var(natFlag{addr}, "nat-address", "for v2 profiles: the address the server sees this machine as, "+
		"e.g. the public address of a NAT (default: this machine's own source address toward the server)")
}
