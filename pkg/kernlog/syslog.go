package kernlog

import (
	"bytes"
	"encoding/binary"
	"net/netip"
)

// kernelTag is "kernel: " as a little-endian 64-bit word, so that the tag
// is compared in one step.
const kernelTag = 'k' | 'e'<<8 | 'r'<<16 | 'n'<<24 | 'e'<<32 | 'l'<<40 | ':'<<48 | ' '<<56

// kernelMessage returns the message of a syslog line whose program tag is
// exactly "kernel:". It reports false for any other line, including one in
// which a user program's message merely contains "kernel:".
func kernelMessage(line []byte) ([]byte, bool) {
	n := timestampLen(line)
	if n == 0 || n >= len(line) || line[n] != ' ' {
		return nil, false
	}
	// The host name: one or more bytes up to a space. A loop beats
	// bytes.IndexByte's call on names this short.
	rest := line[n+1:]
	h := 0
	for h < len(rest) && rest[h] != ' ' {
		h++
	}
	if h == 0 || h+1+8 > len(rest) || binary.LittleEndian.Uint64(rest[h+1:]) != kernelTag {
		return nil, false
	}
	return rest[h+1+8:], true
}

// timestampLen returns the length of the syslog timestamp that starts line,
// or 0 if there is none.
func timestampLen(line []byte) int {
	if n := traditionalLen(line); n > 0 {
		return n
	}
	return rfc3339Len(line)
}

// traditionalLen matches "Nov 26 11:00:00" (day padded with a space).
func traditionalLen(b []byte) int {
	if len(b) < 15 {
		return 0
	}
	b = b[:15]
	if !isUpper(b[0]) || !isLower(b[1]) || !isLower(b[2]) || b[3] != ' ' ||
		(b[4] != ' ' && !isDigit(b[4])) || !isDigit(b[5]) || b[6] != ' ' ||
		!isDigit(b[7]) || !isDigit(b[8]) || b[9] != ':' || !isDigit(b[10]) || !isDigit(b[11]) ||
		b[12] != ':' || !isDigit(b[13]) || !isDigit(b[14]) {
		return 0
	}
	return 15
}

// rfc3339Len matches "2026-11-26T11:00:00", an optional fraction and a zone
// of "Z" or "+hh:mm".
func rfc3339Len(b []byte) int {
	if len(b) < 20 || !digits(b[0:4]) || b[4] != '-' || !digits(b[5:7]) || b[7] != '-' ||
		!digits(b[8:10]) || b[10] != 'T' || !digits(b[11:13]) || b[13] != ':' ||
		!digits(b[14:16]) || b[16] != ':' || !digits(b[17:19]) {
		return 0
	}
	n := 19
	if b[n] == '.' {
		n++
		start := n
		for n < len(b) && isDigit(b[n]) {
			n++
		}
		if n == start {
			return 0
		}
	}
	switch {
	case n < len(b) && b[n] == 'Z':
		return n + 1
	case n+6 <= len(b) && (b[n] == '+' || b[n] == '-') && digits(b[n+1:n+3]) &&
		b[n+3] == ':' && digits(b[n+4:n+6]):
		return n + 6
	}
	return 0
}

// printkChars marks the bytes allowed inside a printk timestamp.
var printkChars = [256]bool{' ': true, '.': true, '0': true, '1': true, '2': true, '3': true,
	'4': true, '5': true, '6': true, '7': true, '8': true, '9': true}

// printkOther is 1 for the bytes printkChars does not allow, so that a loop
// can collect them without a branch.
var printkOther = func() (t [256]uint8) {
	for c, ok := range printkChars {
		if !ok {
			t[c] = 1
		}
	}
	return t
}()

// splitPrintkTime splits msg after what has the shape of a printk timestamp:
// '[', the first ']' among the next 23 bytes, and a space. It returns what
// follows, whether there is such a shape, and whether the bytes between the
// brackets are valid (validPrintkTime), which is noted in the same pass:
// the caller looks at it only if the log prefix follows, so a line with
// another prefix is refused whatever its timestamp holds.
func splitPrintkTime(msg []byte) (rest []byte, stamped, valid bool) {
	if len(msg) == 0 || msg[0] != '[' {
		return msg, false, false
	}
	n := min(len(msg), 24)
	end := 1
	var other uint8
	for end < n && msg[end] != ']' {
		other |= printkOther[msg[end]]
		end++
	}
	if end == n || end+1 >= len(msg) || msg[end+1] != ' ' {
		return msg, false, false
	}
	return msg[end+2:], true, other == 0
}

// validPrintkTime reports whether stamp holds only the spaces, digits and
// dots of a printk timestamp.
func validPrintkTime(stamp []byte) bool {
	for _, c := range stamp {
		if !printkChars[c] {
			return false
		}
	}
	return true
}

// parseIPv4 parses a dotted quad without leading zeros.
func parseIPv4(b []byte) (netip.Addr, bool) {
	var a [4]byte
	for i := range a {
		end := bytes.IndexByte(b, '.')
		if i == 3 {
			end = len(b)
		}
		if end < 0 {
			return netip.Addr{}, false
		}
		n, ok := parseUint(b[:end], 255)
		if !ok {
			return netip.Addr{}, false
		}
		a[i] = byte(n)
		b = b[min(end+1, len(b)):]
	}
	return netip.AddrFrom4(a), true
}

func isDigit(c byte) bool { return c-'0' <= 9 }
func isUpper(c byte) bool { return c-'A' <= 'Z'-'A' }
func isLower(c byte) bool { return c-'a' <= 'z'-'a' }

func digits(b []byte) bool {
	for _, c := range b {
		if !isDigit(c) {
			return false
		}
	}
	return len(b) > 0
}
