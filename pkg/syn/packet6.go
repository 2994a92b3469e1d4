package syn

import (
	"encoding/binary"
	"net/netip"
)

// IPv6 knock layout written by Packet.Append when both addresses are IPv6
// (all big-endian). IPv6 has no ID, so knock.Fields.ID travels in the low 16
// bits of the 20-bit flow label, whose top 4 bits stay 0; the kernel's LOG
// target prints it as FLOWLBL=. The TCP header is the IPv4 one.
//
//	offset  size  field
//	     0     4  version 6, traffic class 0, flow label <- 0x0 | knock.Fields.ID
//	     4     2  payload length 20
//	     6     1  next header 6 (TCP)
//	     7     1  hop limit 64
//	     8    16  source address
//	    24    16  destination address
//	    40    20  TCP header as in the IPv4 layout; the checksum covers the
//	              IPv6 pseudo-header (RFC 8200 section 8.1)

// Len6 is the length of an IPv6 knock packet: a 40-byte IPv6 header and a
// 20-byte TCP header.
const Len6 = 60

const ip6HeaderLen = 40

// append6 appends the IPv6 form of p; both addresses must be IPv6.
func (p *Packet) append6(b []byte) []byte {
	start := len(b)
	b = append(b, make([]byte, Len6)...)
	pkt := b[start:]
	p.putIPv6(pkt[:ip6HeaderLen])
	tcp := pkt[ip6HeaderLen:]
	p.putTCPFields(tcp)
	binary.BigEndian.PutUint16(tcp[16:], fold(sum(pseudoHeaderSum6(p.Src, p.Dst, len(tcp)), tcp)))
	return b
}

func (p *Packet) putIPv6(h []byte) {
	binary.BigEndian.PutUint32(h[0:], 6<<28|uint32(p.Fields.ID))
	binary.BigEndian.PutUint16(h[4:], tcpHeaderLen)
	h[6] = protoTCP
	h[7] = defaultTTL
	src, dst := p.Src.As16(), p.Dst.As16()
	copy(h[8:24], src[:])
	copy(h[24:40], dst[:])
}

// pseudoHeaderSum6 is the one's-complement sum of the IPv6 pseudo-header
// that the TCP checksum covers: addresses, 32-bit length, next header.
func pseudoHeaderSum6(src, dst netip.Addr, tcpLen int) uint32 {
	s, d := src.As16(), dst.As16()
	acc := sum(0, s[:])
	acc = sum(acc, d[:])
	return acc + protoTCP + uint32(tcpLen)
}
