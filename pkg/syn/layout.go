package syn

import (
	"encoding/binary"
	"runtime"
)

// A Layout is the form in which a raw socket with IP_HDRINCL takes an IPv4
// header from the sender. Linux takes the header as it goes on the wire.
// macOS, and FreeBSD before 11.0, take the total length and fragment
// offset fields in host byte order and swap them on output; FreeBSD 11.0
// and later take them in network byte order like Linux. The other fields,
// the TCP header and IPv6 are in network byte order everywhere.
type Layout struct {
	// LenOff is the byte order of the IPv4 total length and fragment
	// offset fields.
	LenOff binary.ByteOrder
}

var (
	// LayoutWire is Linux's and FreeBSD 11's: the header as on the wire.
	LayoutWire = Layout{binary.BigEndian}
	// LayoutHost is macOS's and old FreeBSD's: total length and fragment
	// offset in host byte order.
	LayoutHost = Layout{binary.NativeEndian}
)

// freeBSD11 is __FreeBSD_version of FreeBSD 11.0, the first release that
// takes ip_len and ip_off in network byte order.
const freeBSD11 = 1100000

// layoutFor returns the layout of system goos; freebsdRel is FreeBSD's
// kern.osreldate, 0 if unknown (then a current FreeBSD is assumed).
func layoutFor(goos string, freebsdRel uint32) Layout {
	switch goos {
	case "darwin", "ios", "dragonfly", "netbsd":
		return LayoutHost
	case "freebsd":
		if freebsdRel != 0 && freebsdRel < freeBSD11 {
			return LayoutHost
		}
	}
	return LayoutWire
}

// rawLayout is the running system's layout.
var rawLayout = layoutFor(runtime.GOOS, osRelDate())

// AppendRaw appends p as a raw socket of layout l takes it: Append's wire
// format, with an IPv4 header's total length and fragment offset in l's
// byte order. The checksums stay those of the wire format, the packet the
// system sends.
func (p *Packet) AppendRaw(b []byte, l Layout) ([]byte, error) {
	start := len(b)
	b, err := p.Append(b)
	if err != nil || !p.Dst.Is4() {
		return b, err
	}
	l.fromWire(b[start:])
	return b, nil
}

// fromWire rewrites the IPv4 packet pkt, in wire format, into layout l in
// place, and returns it.
func (l Layout) fromWire(pkt []byte) []byte {
	l.LenOff.PutUint16(pkt[2:], binary.BigEndian.Uint16(pkt[2:]))
	l.LenOff.PutUint16(pkt[6:], binary.BigEndian.Uint16(pkt[6:]))
	return pkt
}
