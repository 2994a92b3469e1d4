package kernlog

import (
	"bytes"
	"net/netip"
)

var kernelTag = []byte("kernel: ")

// kernelMessage returns the message of a syslog line whose program tag is
// exactly "kernel:". It reports false for any other line, including one in
// which a user program's message merely contains "kernel:".
func kernelMessage(line []byte) ([]byte, bool) {
	n := timestampLen(line)
	if n == 0 || n >= len(line) || line[n] != ' ' {
		return nil, false
	}
	rest := line[n+1:]
	host := token(rest)
	if len(host) == 0 || len(host) == len(rest) {
		return nil, false
	}
	rest = rest[len(host)+1:]
	if !bytes.HasPrefix(rest, kernelTag) {
		return nil, false
	}
	return rest[len(kernelTag):], true
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
	if len(b) < 15 || !isUpper(b[0]) || !isLower(b[1]) || !isLower(b[2]) || b[3] != ' ' ||
		(b[4] != ' ' && !isDigit(b[4])) || b[6] != ' ' || b[9] != ':' || b[12] != ':' ||
		!digits(b[5:6]) || !digits(b[7:9]) || !digits(b[10:12]) || !digits(b[13:15]) {
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

// skipPrintkTime drops a leading "[  370.992955] " printk timestamp.
func skipPrintkTime(msg []byte) []byte {
	if len(msg) == 0 || msg[0] != '[' {
		return msg
	}
	end := bytes.IndexByte(msg[:min(len(msg), 24)], ']')
	if end < 0 || end+1 >= len(msg) || msg[end+1] != ' ' {
		return msg
	}
	for _, c := range msg[1:end] {
		if !printkChars[c] {
			return msg
		}
	}
	return msg[end+2:]
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

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isLower(c byte) bool { return c >= 'a' && c <= 'z' }

func digits(b []byte) bool {
	for _, c := range b {
		if !isDigit(c) {
			return false
		}
	}
	return len(b) > 0
}
