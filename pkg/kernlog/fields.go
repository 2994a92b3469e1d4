package kernlog

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// Bits of the fields a knock line must carry.
const (
	haveSrc = 1 << iota
	haveDPT
	haveID
	haveSeq
	haveAck
	haveWindow
	haveProto
	haveAll = haveSrc | haveDPT | haveID | haveSeq | haveAck | haveWindow | haveProto
)

// A scan collects the fields of one LOG line.
type scan struct {
	pkt      Packet
	have     uint8
	src      []byte
	flow     bool // the ID came from FLOWLBL (IPv6), not ID (IPv4)
	flowHigh bool // FLOWLBL is 2^16 or more
	tcp      bool
	syn, ack bool
}

// parseFields scans the space-separated KEY=VALUE fields and flag words
// that the LOG target prints after the prefix.
func (p *Parser) parseFields(body []byte) (Packet, Verdict) {
	var s scan
	for i := 0; i < len(body); {
		j, eq := tokenEnd(body, i)
		if !s.add(body[i:j], eq) {
			return Packet{}, Malformed
		}
		i = j + 1
	}
	return s.verdict(p)
}

// tokenEnd returns the index of the first space in b at or after i (len(b)
// if there is none) and the offset from i of the first '=' before it (-1 if
// there is none). It looks at eight bytes at a time: for tokens of about
// ten bytes that takes half the instructions of a byte loop, where two
// bytes.IndexByte calls would cost more than either.
func tokenEnd(b []byte, i int) (end, eq int) {
	const spaces, equals = 0x2020202020202020, 0x3d3d3d3d3d3d3d3d
	eq = -1
	j := i
	for ; j+8 <= len(b); j += 8 {
		w := binary.LittleEndian.Uint64(b[j:])
		sp, e := zeroBytes(w^spaces), zeroBytes(w^equals)
		if sp != 0 {
			k := bits.TrailingZeros64(sp) / 8 // the space's byte
			e &= 1<<(8*k) - 1                 // only '=' before it
			if eq < 0 && e != 0 {
				eq = j + bits.TrailingZeros64(e)/8 - i
			}
			return j + k, eq
		}
		if eq < 0 && e != 0 {
			eq = j + bits.TrailingZeros64(e)/8 - i
		}
	}
	for ; j < len(b) && b[j] != ' '; j++ {
		if b[j] == '=' && eq < 0 {
			eq = j - i
		}
	}
	return j, eq
}

// zeroBytes returns x with the top bit of each byte set if the byte is 0
// and clear otherwise, exactly: no carry crosses from one byte to the next.
func zeroBytes(x uint64) uint64 {
	const lows = 0x7f7f7f7f7f7f7f7f
	return ^((x&lows + lows) | x | lows)
}

// add records one token, whose first '=' is at eq (-1 if none). It reports
// false if a field of interest is repeated or does not parse.
func (s *scan) add(tok []byte, eq int) bool {
	if eq < 0 {
		switch string(tok) {
		case "SYN":
			s.syn = true
		case "ACK":
			s.ack = true
		}
		return true
	}
	key, val := tok[:eq], tok[eq+1:]
	var bit uint8
	var n uint64
	ok := true
	switch string(key) {
	case "SRC":
		bit, s.src = haveSrc, val
	case "PROTO":
		bit, s.tcp = haveProto, string(val) == "TCP"
	case "DPT":
		bit = haveDPT
		n, ok = parseUint(val, 0xffff)
		s.pkt.DstPort = uint16(n)
	case "ID":
		bit = haveID
		n, ok = parseUint(val, 0xffff)
		s.pkt.ID = uint16(n)
	case "FLOWLBL":
		// IPv6 carries the knock's ID in the low 16 bits of the flow label.
		bit, s.flow = haveID, true
		n, ok = parseUint(val, 0xfffff)
		s.pkt.ID, s.flowHigh = uint16(n), n > 0xffff
	case "SEQ":
		bit = haveSeq
		n, ok = parseUint(val, 0xffffffff)
		s.pkt.Seq = uint32(n)
	case "ACK":
		bit = haveAck
		n, ok = parseUint(val, 0xffffffff)
		s.pkt.Ack = uint32(n)
	case "WINDOW":
		bit = haveWindow
		n, ok = parseUint(val, 0xffff)
		s.pkt.Window = uint16(n)
	default:
		return true
	}
	if !ok || s.have&bit != 0 {
		return false
	}
	s.have |= bit
	return true
}

// verdict decides on the collected fields.
func (s *scan) verdict(p *Parser) (Packet, Verdict) {
	if s.have&haveSrc == 0 {
		return Packet{}, MissingField
	}
	v6 := bytes.IndexByte(s.src, ':') >= 0
	parse := parseIPv4
	if v6 {
		parse = parseIPv6
	}
	src, ok := parse(s.src)
	if !ok || (s.flow && !v6) || (s.have&haveID != 0 && v6 && !s.flow) {
		return Packet{}, Malformed
	}
	switch {
	case s.have&haveProto == 0:
		return Packet{}, MissingField
	case !s.tcp:
		return Packet{}, NotTCP
	case !s.syn:
		return Packet{}, NotSYN
	case s.ack:
		return Packet{}, HasACK
	case s.have != haveAll:
		return Packet{}, MissingField
	case !p.isKnockPort(s.pkt.DstPort):
		return Packet{}, OtherPort
	case s.flowHigh:
		return Packet{}, BadFlowLabel
	}
	s.pkt.Src = src
	return s.pkt, Knock
}

// parseIPv6 parses an IPv6 address as the kernel's LOG target prints it:
// eight groups of four lower-case hex digits, nothing abbreviated. An
// IPv4-mapped address is refused: no IPv6 packet comes from one.
func parseIPv6(b []byte) (netip.Addr, bool) {
	var a [16]byte
	if len(b) != 39 {
		return netip.Addr{}, false
	}
	for i := range 8 {
		g := b[i*5:]
		if i < 7 && g[4] != ':' {
			return netip.Addr{}, false
		}
		for j := range 4 {
			d := hexDigit(g[j])
			if d < 0 {
				return netip.Addr{}, false
			}
			a[i*2+j/2] |= byte(d) << (4 * (1 - j%2))
		}
	}
	addr := netip.AddrFrom16(a)
	return addr, !addr.Is4In6()
}

// hexDigit returns the value of a lower-case hex digit, or -1.
func hexDigit(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c - 'a' + 10)
	}
	return -1
}
