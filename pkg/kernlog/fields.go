package kernlog

import "bytes"

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
	tcp      bool
	syn, ack bool
}

// parseFields scans the space-separated KEY=VALUE fields and flag words
// that the LOG target prints after the prefix.
func (p *Parser) parseFields(body []byte) (Packet, Verdict) {
	var s scan
	for len(body) > 0 {
		tok := token(body)
		body = body[min(len(tok)+1, len(body)):]
		if !s.add(tok) {
			return Packet{}, Malformed
		}
	}
	return s.verdict(p)
}

// add records one token. It reports false if a field of interest is
// repeated or does not parse.
func (s *scan) add(tok []byte) bool {
	eq := bytes.IndexByte(tok, '=')
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
	if bytes.IndexByte(s.src, ':') >= 0 {
		return Packet{}, NotIPv4
	}
	src, ok := parseIPv4(s.src)
	if !ok {
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
	}
	s.pkt.Src = src
	return s.pkt, Knock
}
