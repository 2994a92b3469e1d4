package syn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/kk-project/kk/pkg/profile"
)

// ErrIPv6Only means the host has no IPv4 address. Knocks travel in IPv4
// header fields, so nothing is sent rather than knocking at nowhere.
var ErrIPv6Only = errors.New("IPv6 knocks not supported yet")

// ErrPort means the port to open is outside 1-65535.
var ErrPort = errors.New("port to open must be between 1 and 65535")

// A Knocker sends knocks described by profile directories over a raw socket.
// The zero value is ready to use and is safe for concurrent use: profiles
// serialise their counters with a file lock, so several Knockers, even in
// different processes, never send the same counter twice.
type Knocker struct {
	// Resolver looks up host names; nil means net.DefaultResolver.
	Resolver *net.Resolver
}

// Knock asks the server host, through the profile in profileDir, to open
// port for this machine. It sends exactly one SYN to the profile's knock
// port. Everything that can fail without spending a counter (profile, name
// resolution, capability, route) is checked first; the counter is then
// advanced and persisted before the packet leaves, so a crash never reuses
// a counter.
func (k *Knocker) Knock(ctx context.Context, host, profileDir string, port uint16) error {
	if port == 0 {
		return fmt.Errorf("knocking %s: %w", host, ErrPort)
	}
	p, err := LoadProfile(profileDir, host)
	if err != nil {
		return err
	}
	dst, err := ResolveIPv4(ctx, k.Resolver, host)
	if err != nil {
		return err
	}
	raw, err := OpenRaw()
	if err != nil {
		return err
	}
	defer raw.Close()
	src, err := SourceFor(dst)
	if err != nil {
		return err
	}
	return send(raw, p, Packet{Src: src, Dst: dst, SrcPort: EphemeralPort(), DstPort: p.KnockPort}, port)
}

// send seals the knock for port with the profile's next counter into pkt
// and sends it.
func send(raw *RawConn, p *profile.Profile, pkt Packet, port uint16) error {
	f, _, err := p.NextKnock(port)
	if err != nil {
		return fmt.Errorf("taking the next counter from profile %s: %w", p.Dir, err)
	}
	pkt.Fields = f
	b, err := pkt.Append(make([]byte, 0, Len))
	if err != nil {
		return err
	}
	return raw.Send(b, pkt.Dst)
}

// ResolveIPv4 returns the first IPv4 address of host, which may be a name or
// an address literal. A host with only IPv6 addresses yields ErrIPv6Only. A
// nil r means net.DefaultResolver.
func ResolveIPv4(ctx context.Context, r *net.Resolver, host string) (netip.Addr, error) {
	if r == nil {
		r = net.DefaultResolver
	}
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("resolving host %q: %w; check the name given with -s, or give its IPv4 address", host, err)
	}
	for _, a := range addrs {
		if a = a.Unmap(); a.Is4() {
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("host %q resolves only to IPv6 (%v): %w; give an IPv4 address or name with -s", host, addrs, ErrIPv6Only)
}
