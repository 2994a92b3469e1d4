// Package kernlog finds knock packets in the kernel log.
//
// A knock is a TCP SYN that the firewall rejected and logged with the
// netfilter LOG target. The package parses such lines strictly, as they
// appear in a syslog file (traditional "Nov 26 11:00:00 host kernel: ..." or
// RFC 3339 "2026-11-26T11:00:00.123456+00:00 host kernel: ...") or in the
// journal, and it follows a log file across rotation or the journal through a
// journalctl child process.
//
// Parsing never allocates, so a busy log costs little: lines that are not
// knocks are refused after a few byte comparisons.
package kernlog

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// A Packet holds what a knock line carries: the sender, the destination port
// and the four header fields that hold the knock's ciphertext. For an IPv6
// line, Src is IPv6 and ID is the flow label (FLOWLBL=), which a knock keeps
// below 2^16.
type Packet struct {
	Src     netip.Addr
	DstPort uint16
	ID      uint16
	Seq     uint32
	Ack     uint32
	Window  uint16
}

// A Verdict says whether a line is a knock candidate and, if not, why.
type Verdict uint8

// Verdicts. Only Knock means the Packet is filled in.
const (
	Knock        Verdict = iota // a TCP SYN to a knock port with all fields
	NotKernel                   // not a message from the kernel
	NoPrefix                    // the message does not start with the log prefix
	NotTCP                      // PROTO is not TCP
	NotSYN                      // the SYN flag is not set
	HasACK                      // the ACK flag is set
	OtherPort                   // DPT is not a knock port
	MissingField                // SRC, DPT, ID (FLOWLBL for IPv6), SEQ, ACK or WINDOW is absent
	BadFlowLabel                // an IPv6 flow label of 2^16 or more: a knock keeps the top 4 bits 0
	Malformed                   // a field is repeated or does not parse
	Loopback                    // a knock that arrived on lo (IN=lo): see ParseMessage
)

var verdictNames = [...]string{"knock", "not a kernel message", "no log prefix", "not TCP",
	"no SYN flag", "ACK flag set", "not a knock port", "missing field", "flow label over 16 bits", "malformed", "arrived on loopback"}

// String returns a short description of v.
func (v Verdict) String() string {
	if int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return "unknown verdict"
}

// A Parser recognises knock lines for one log prefix and one set of knock
// ports. The zero value refuses every line. A Parser is safe for concurrent
// use once built, since parsing does not change it.
type Parser struct {
	prefix []byte
	// For a prefix of one to eight bytes (such as "REJECT "), the prefix as
	// a little-endian word and the mask of its bytes, so that a message of
	// eight bytes or more is compared with it in one step.
	prefixWord, prefixMask uint64
	ports                  [1024]uint64 // bit set of knock ports
}

// NewParser returns a parser for lines whose kernel message starts with
// prefix (the LOG target's --log-prefix, such as "REJECT ") and whose
// destination port is one of ports.
func NewParser(prefix string, ports []uint16) *Parser {
	p := &Parser{prefix: []byte(prefix)}
	if n := len(prefix); n > 0 && n <= 8 {
		var w [8]byte
		copy(w[:], prefix)
		p.prefixWord = binary.LittleEndian.Uint64(w[:])
		p.prefixMask = ^uint64(0) >> (64 - 8*n)
	}
	for _, port := range ports {
		p.ports[port>>6] |= 1 << (port & 63)
	}
	return p
}

// isKnockPort reports whether port is one of the parser's knock ports.
func (p *Parser) isKnockPort(port uint16) bool {
	return p.ports[port>>6]&(1<<(port&63)) != 0
}

// ParseSyslog parses one line of a syslog file such as /var/log/kern.log,
// without its trailing newline. The program tag must be exactly "kernel:";
// anything else, including "kernel[pid]:", is NotKernel.
func (p *Parser) ParseSyslog(line []byte) (Packet, Verdict) {
	msg, ok := kernelMessage(line)
	if !ok {
		return Packet{}, NotKernel
	}
	return p.ParseMessage(msg)
}

// ParseMessage parses the text of a kernel message, as the journal's MESSAGE
// field holds it. A leading printk timestamp such as "[  370.99] " is skipped.
// The caller must already know that the message came from the kernel.
//
// A knock that arrived on the loopback interface is refused as Loopback. No
// client knocks a server over its own lo (and knockknock-firewall.sh accepts
// lo before any LOG rule), but with net.netfilter.nf_log_all_netns = 1 any
// user who may create a user namespace can log a SYN with a forged source
// on that namespace's lo, and the kernel writes it like any other line.
func (p *Parser) ParseMessage(msg []byte) (Packet, Verdict) {
	body, ok := p.afterPrefix(msg)
	if !ok || len(body) < 3 || body[0] != 'I' || body[1] != 'N' || body[2] != '=' { // IN=
		return Packet{}, NoPrefix
	}
	// Cheap refusals first: most lines go to other ports or protocols.
	if v := p.quickCheck(body); v != Knock {
		return Packet{}, v
	}
	pkt, v := p.parseFields(body)
	if v == Knock && bytes.HasPrefix(body, inLoopback) {
		return Packet{}, Loopback
	}
	return pkt, v
}

// afterPrefix returns what follows the log prefix in msg, after a printk
// timestamp if there is one (see splitPrintkTime and validPrintkTime). The
// timestamp's validity counts only when the prefix follows it, so a line
// with another prefix costs a few comparisons.
func (p *Parser) afterPrefix(msg []byte) ([]byte, bool) {
	if len(p.prefix) == 0 {
		return nil, false
	}
	rest, stamped, valid := splitPrintkTime(msg)
	if stamped {
		switch {
		case p.hasPrefix(rest) && valid:
			return rest[len(p.prefix):], true
		case !p.hasPrefix(msg) || valid:
			// Not after the timestamp, and either not at the start or the
			// timestamp is valid, so the message does not start there.
			return nil, false
		}
	}
	if !p.hasPrefix(msg) {
		return nil, false
	}
	return msg[len(p.prefix):], true
}

// hasPrefix reports whether b starts with the log prefix: bytes.HasPrefix,
// in one comparison where the prefix is a word and b at least one.
func (p *Parser) hasPrefix(b []byte) bool {
	if p.prefixMask != 0 && len(b) >= 8 {
		return binary.LittleEndian.Uint64(b)&p.prefixMask == p.prefixWord
	}
	return bytes.HasPrefix(b, p.prefix)
}

var (
	inLoopback = []byte("IN=lo ")
	dptField   = []byte("DPT=")
)

// quickCheck refuses lines for other ports by looking at DPT= alone, before
// the full field scan. It may pass lines the scan then refuses, but it never
// refuses a line the scan would accept. It looks at the last DPT= token,
// where the scan takes the first and calls a second one Malformed: in a line
// the scan accepts the two are the same token, and a last DPT= that is not
// a knock port (or does not parse) makes the scan refuse the line either
// way, as OtherPort (or Malformed) if it is the only one and as Malformed if
// it is not.
func (p *Parser) quickCheck(body []byte) Verdict {
	j := lastIndexDPT(body)
	if j < 0 {
		return MissingField
	}
	port, ok := leadingPort(body[j+len(dptField):])
	if !ok {
		return Malformed
	}
	if !p.isKnockPort(port) {
		return OtherPort
	}
	return Knock
}

// dptWord is "DPT=" as a little-endian 32-bit word.
const dptWord = 'D' | 'P'<<8 | 'T'<<16 | '='<<24

// lastIndexDPT returns the index of the last "DPT=" in b that starts a
// space-separated token, or -1. A LOG line has DPT= about 60 bytes from its
// end (SEQ, ACK, WINDOW, RES and the flags follow) and over 100 from its
// start, so it looks backwards, eight bytes at a time: a word's 'D' bytes
// are found without a branch (zeroBytes), and only they are compared with
// "DPT=". In a LOG line's tail that is WINDOW's D and DPT's own.
func lastIndexDPT(b []byte) int {
	const ds = 0x4444444444444444   // 'D' in every byte
	n := len(b) - len(dptField) + 1 // "DPT=" can start at 0 .. n-1
	j := n - 16
	// Two words a round, tested together: a round without a 'D' is one
	// branch, and the two words' masks are computed side by side.
	for ; j >= 0; j -= 16 {
		w := b[j : j+16]
		lo := zeroBytes(binary.LittleEndian.Uint64(w) ^ ds)
		hi := zeroBytes(binary.LittleEndian.Uint64(w[8:]) ^ ds)
		if lo|hi == 0 {
			continue
		}
		if at := lastDPTIn(b, j+8, hi); at >= 0 {
			return at
		}
		if at := lastDPTIn(b, j, lo); at >= 0 {
			return at
		}
	}
	for at := j + 15; at >= 0; at-- { // the first n%16 positions
		if b[at] == 'D' && isDPT(b, at) {
			return at
		}
	}
	return -1
}

// lastDPTIn returns the last position j+k, for a byte k marked in m (as
// zeroBytes marks them), at which a "DPT=" token starts, or -1.
func lastDPTIn(b []byte, j int, m uint64) int {
	for m != 0 {
		k := (63 - bits.LeadingZeros64(m)) / 8
		if isDPT(b, j+k) {
			return j + k
		}
		m &^= 0x80 << (8 * k)
	}
	return -1
}

// isDPT reports whether a "DPT=" token starts at b[at]; b has at least four
// bytes from at.
func isDPT(b []byte, at int) bool {
	return binary.LittleEndian.Uint32(b[at:]) == dptWord && (at == 0 || b[at-1] == ' ')
}

// leadingPort parses the value of a DPT= token: the decimal digits up to the
// next space or the end of b, as parseUint would parse them with a maximum
// of 65535.
func leadingPort(b []byte) (uint16, bool) {
	n, i := 0, 0
	for ; i < len(b) && b[i] != ' '; i++ {
		c := b[i] - '0'
		if c > 9 || i == 5 || (i == 1 && n == 0) {
			return 0, false // not a digit, too long, or a leading zero
		}
		n = n*10 + int(c)
	}
	if i == 0 || n > 0xffff {
		return 0, false
	}
	return uint16(n), true
}

// token returns b up to its first space.
func token(b []byte) []byte {
	if i := bytes.IndexByte(b, ' '); i >= 0 {
		return b[:i]
	}
	return b
}

// parseUint parses a decimal number of at most max, refusing signs, empty
// input and leading zeros other than "0" itself.
func parseUint(b []byte, max uint64) (uint64, bool) {
	if len(b) == 0 || len(b) > 10 || (len(b) > 1 && b[0] == '0') {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, n <= max
}
