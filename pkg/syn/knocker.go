package syn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/kk-project/kk/pkg/knock"
	"github.com/kk-project/kk/pkg/profile"
)

// ErrNoAddress means the host has no address of the family asked for
// (Knocker.Network), so nothing is sent rather than knocking at nowhere.
var ErrNoAddress = errors.New("host has no address of the family asked for")

// ErrPort means the port to open is outside 1-65535.
var ErrPort = errors.New("port to open must be between 1 and 65535")

// A Knocker sends knocks described by profile directories over a raw socket.
// The zero value is ready to use and is safe for concurrent use: profiles
// serialise their counters with a file lock, so several Knockers, even in
// different processes, never send the same counter twice.
type Knocker struct {
	// Resolver looks up host names; nil means net.DefaultResolver.
	Resolver *net.Resolver
	// Network is "ip4" or "ip6" to knock over that family only, or "" to
	// use the family a TCP connection to the host would try first.
	Network string
	// NATAddress, if valid, is the source address a v2 knock is bound to
	// instead of this machine's own source address toward the server: the
	// public address of a NAT the knock passes (kk-client --nat-address).
	NATAddress netip.Addr
	// Sockets, if set, are the raw sockets to send on, opened before the
	// process gave up root; nil means a socket is opened for each knock.
	Sockets *Sockets
}

// rawFor returns the raw socket to send to dst on.
func (k *Knocker) rawFor(dst netip.Addr) (*RawConn, error) {
	if k.Sockets != nil {
		return k.Sockets.For(dst)
	}
	return OpenRawFor(dst)
}

// Knock asks the server host, through the profile in profileDir, to open
// port for this machine. It sends exactly one SYN to the profile's knock
// port. Everything that can fail without spending a counter (profile, name
// resolution, capability, route) is checked first; the counter is then
// advanced and persisted before the packet leaves, so a crash never reuses
// a counter.
func (k *Knocker) Knock(ctx context.Context, host, profileDir string, port uint16) error {
	_, err := k.KnockSent(ctx, host, profileDir, port)
	return err
}

// Sent describes a knock that was sent.
type Sent struct {
	Version int        // the profile's knock version, 1 or 2
	Dst     netip.Addr // the server's address the knock went to
	Bound   netip.Addr // the source address a v2 knock is bound to: NATAddress, or this machine's own toward Dst
}

// KnockSent is Knock, and on success also says what was sent.
func (k *Knocker) KnockSent(ctx context.Context, host, profileDir string, port uint16) (Sent, error) {
	if port == 0 {
		return Sent{}, fmt.Errorf("knocking %s: %w", host, ErrPort)
	}
	p, err := LoadProfile(profileDir, host)
	if err != nil {
		return Sent{}, err
	}
	dst, err := Resolve(ctx, k.Resolver, host, k.Network)
	if err != nil {
		return Sent{}, err
	}
	if !CanKnock6 && k.Network == "" && dst.Is6() {
		// This system cannot send IPv6 knocks: take the host's IPv4
		// address if it has one, else OpenRawFor says why not.
		if dst4, err := Resolve(ctx, k.Resolver, host, "ip4"); err == nil {
			dst = dst4
		}
	}
	raw, err := k.rawFor(dst)
	if err != nil {
		return Sent{}, err
	}
	if k.Sockets == nil {
		defer raw.Close()
	}
	src, err := SourceFor(dst)
	if err != nil {
		return Sent{}, err
	}
	bound := src
	if k.NATAddress.IsValid() {
		bound = k.NATAddress
	}
	err = send(raw, p, Packet{Src: src, Dst: dst, SrcPort: EphemeralPort(), DstPort: p.KnockPort}, port, bound)
	if err != nil {
		return Sent{}, err
	}
	return Sent{Version: p.Version, Dst: dst, Bound: bound}, nil
}

// send seals the knock for port with the profile's next counter into pkt
// and sends it. A v2 profile's knock is bound to pkt's knock port and to
// the source address bound, the one the server will see.
func send(raw *RawConn, p *profile.Profile, pkt Packet, port uint16, bound netip.Addr) error {
	var sendErr error
	_, err := p.SendKnock(port, knock.Binding{KnockPort: pkt.DstPort, Source: bound}, func(f knock.Fields) error {
		pkt.Fields = f
		b, err := pkt.AppendRaw(make([]byte, 0, Len6), raw.Layout())
		if err == nil {
			err = raw.SendRaw(b, pkt.Dst)
		}
		sendErr = err
		return err
	})
	switch {
	case sendErr != nil:
		return sendErr
	case err != nil:
		return fmt.Errorf("taking the next counter from profile %s: %w", p.Dir, err)
	}
	return nil
}

// Resolve returns the address of host, which may be a name or an address
// literal, to knock at: the first of the resolver's answers (the address a
// TCP dial tries first) of network "ip4" or "ip6", or of either when network
// is "" or "ip". IPv4-mapped IPv6 addresses count as IPv4. A host with no
// address of the family yields ErrNoAddress. A nil r means
// net.DefaultResolver.
func Resolve(ctx context.Context, r *net.Resolver, host, network string) (netip.Addr, error) {
	if r == nil {
		r = net.DefaultResolver
	}
	addrs, err := []netip.Addr{{}}, error(nil)
	if addrs[0], err = netip.ParseAddr(host); err != nil { // a literal keeps its zone, as in fe80::1%eth0
		addrs, err = r.LookupNetIP(ctx, "ip", host)
	}
	if err != nil {
		return netip.Addr{}, fmt.Errorf("resolving host %q: %w; check the name given with -s, or give its address", host, err)
	}
	for _, a := range addrs {
		a = a.Unmap()
		if network == "" || network == "ip" || (network == "ip4") == a.Is4() {
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("host %q resolves to %v, none of them %s: %w; drop -4/-6 or give another address with -s", host, addrs, familyName(network), ErrNoAddress)
}

func familyName(network string) string {
	if network == "ip4" {
		return "IPv4"
	}
	return "IPv6"
}
