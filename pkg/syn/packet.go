// Package syn builds and sends the single TCP SYN that carries a knock.
//
// The packet is written byte by byte, IP header included, and sent on a raw
// socket with IP_HDRINCL (IPV6_HDRINCL for IPv6), so no hping3 is needed. The
// knock's twelve bytes go into the IPv4 ID (over IPv6 the flow label, see
// packet6.go), TCP sequence, TCP acknowledgement and TCP window fields; the
// kernel's LOG target on the server prints exactly those fields.
//
// IPv4 wire layout written by Packet.Append (all big-endian):
//
//	offset  size  field
//	     0     1  0x45: IPv4, header length 5 words
//	     1     1  TOS 0
//	     2     2  total length 40
//	     4     2  ID            <- knock.Fields.ID
//	     6     2  flags/fragment 0x4000 (DF)
//	     8     1  TTL 64
//	     9     1  protocol 6 (TCP)
//	    10     2  IPv4 header checksum
//	    12     4  source address
//	    16     4  destination address
//	    20     2  TCP source port (random, ephemeral)
//	    22     2  TCP destination port (the profile's knock port)
//	    24     4  sequence      <- knock.Fields.Seq
//	    28     4  acknowledgement <- knock.Fields.Ack
//	    32     1  0x50: data offset 5 words, no options
//	    33     1  0x02: SYN
//	    34     2  window        <- knock.Fields.Window
//	    36     2  TCP checksum over the IPv4 pseudo-header and segment
//	    38     2  urgent pointer 0
package syn

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/kk-project/kk/pkg/knock"
)

// Len is the length of a knock packet: a 20-byte IPv4 header and a 20-byte
// TCP header, no options, no payload.
const Len = 40

const (
	ipHeaderLen  = 20
	tcpHeaderLen = 20
	protoTCP     = 6
	flagSYN      = 0x02
	flagDF       = 0x4000
	defaultTTL   = 64
)

// A Packet describes one knock SYN. The zero value is not a valid packet:
// Src and Dst must be both IPv4 or both IPv6 addresses.
type Packet struct {
	Src, Dst netip.Addr
	SrcPort  uint16
	DstPort  uint16
	Fields   knock.Fields
}

// Append appends the serialized packet, checksums filled in, to b and returns
// the extended slice: Len bytes if Src and Dst are IPv4, Len6 if both are
// IPv6 (see packet6.go). It fails if the families differ or an address is
// invalid or IPv4-mapped.
func (p *Packet) Append(b []byte) ([]byte, error) {
	if p.Src.Is6() && p.Dst.Is6() && !p.Src.Is4In6() && !p.Dst.Is4In6() {
		return p.append6(b), nil
	}
	if !p.Src.Is4() || !p.Dst.Is4() {
		return b, fmt.Errorf("building knock packet %s -> %s: both addresses must be IPv4, or both IPv6", p.Src, p.Dst)
	}
	start := len(b)
	b = append(b, make([]byte, Len)...)
	pkt := b[start:]
	p.putIPv4(pkt[:ipHeaderLen])
	p.putTCP(pkt[ipHeaderLen:])
	return b, nil
}

func (p *Packet) putIPv4(h []byte) {
	h[0] = 0x45
	binary.BigEndian.PutUint16(h[2:], Len)
	binary.BigEndian.PutUint16(h[4:], p.Fields.ID)
	binary.BigEndian.PutUint16(h[6:], flagDF)
	h[8] = defaultTTL
	h[9] = protoTCP
	src, dst := p.Src.As4(), p.Dst.As4()
	copy(h[12:16], src[:])
	copy(h[16:20], dst[:])
	binary.BigEndian.PutUint16(h[10:], fold(sum(0, h)))
}

func (p *Packet) putTCP(h []byte) {
	p.putTCPFields(h)
	binary.BigEndian.PutUint16(h[16:], fold(sum(pseudoHeaderSum(p.Src, p.Dst, len(h)), h)))
}

// putTCPFields writes the TCP header of either family, checksum left 0.
func (p *Packet) putTCPFields(h []byte) {
	binary.BigEndian.PutUint16(h[0:], p.SrcPort)
	binary.BigEndian.PutUint16(h[2:], p.DstPort)
	binary.BigEndian.PutUint32(h[4:], p.Fields.Seq)
	binary.BigEndian.PutUint32(h[8:], p.Fields.Ack)
	h[12] = (tcpHeaderLen / 4) << 4
	h[13] = flagSYN
	binary.BigEndian.PutUint16(h[14:], p.Fields.Window)
}

// pseudoHeaderSum is the one's-complement sum of the IPv4 pseudo-header that
// the TCP checksum covers (RFC 793 section 3.1).
func pseudoHeaderSum(src, dst netip.Addr, tcpLen int) uint32 {
	s, d := src.As4(), dst.As4()
	acc := sum(0, s[:])
	acc = sum(acc, d[:])
	return acc + protoTCP + uint32(tcpLen)
}

// sum adds b to acc as big-endian 16-bit words; an odd last byte is padded
// with zero.
func sum(acc uint32, b []byte) uint32 {
	for len(b) >= 2 {
		acc += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		acc += uint32(b[0]) << 8
	}
	return acc
}

// fold returns the Internet checksum of a running sum: carries folded back
// in, then complemented.
func fold(acc uint32) uint16 {
	for acc>>16 != 0 {
		acc = acc&0xffff + acc>>16
	}
	return ^uint16(acc)
}
