package main

import (
	"flag"
	"fmt"
	"net/netip"

	"github.com/kk-project/kk/pkg/syn"
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
	fs.Var(natFlag{addr}, "nat-address", "for v2 profiles: the `address` the server sees this machine as, "+
		"e.g. the public address of a NAT (default: this machine's own source address toward the server)")
}

// cgnat is the shared address space of carrier-grade NAT (RFC 6598).
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// hidden says why a server across the internet cannot see address a as a
// packet's source, or "" if it can: a is loopback, link-local, private
// (RFC 1918, RFC 4193 ULA) or carrier-grade NAT space.
func hidden(a netip.Addr) string {
	a = a.Unmap()
	switch {
	case a.IsLoopback():
		return "a loopback address"
	case a.IsLinkLocalUnicast():
		return "a link-local address"
	case a.IsPrivate():
		return "a private address"
	case cgnat.Contains(a):
		return "a carrier-grade NAT address (100.64.0.0/10)"
	case !a.IsGlobalUnicast():
		return "not a unicast address"
	}
	return ""
}

// natNote returns a note for the user when a v2 knock is bound to a source
// address that the server, across the internet, will not see: this machine
// is then behind NAT and the server sees the NAT's public address, so it
// refuses the knock. It returns "" for v1 knocks, when --nat-address was
// given, and when the server's address is itself not public (a LAN or lab
// server sees the private source as it is).
func natNote(s syn.Sent, natGiven bool) string {
	if s.Version < 2 || natGiven || hidden(s.Dst) != "" {
		return ""
	}
	why := hidden(s.Bound)
	if why == "" {
		return ""
	}
	return fmt.Sprintf("Note: this v2 knock is bound to %s, %s, but %s is across the internet: "+
		"if this machine is behind NAT, the server sees the NAT's public address instead and refuses the knock. "+
		"Knock again with --nat-address <public address>.", s.Bound, why, s.Dst)
}
