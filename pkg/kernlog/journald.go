package kernlog

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
)

// A journalEntry holds the fields of one `journalctl -o json` line that the
// parser needs. MESSAGE is a string, or an array of bytes when it is not
// valid UTF-8.
type journalEntry struct {
	Transport string          `json:"_TRANSPORT"`
	Message   json.RawMessage `json:"MESSAGE"`
}

// ParseJournalJSON parses one line of `journalctl -o json` output. Only
// entries whose _TRANSPORT is "kernel" are kernel messages: journald sets
// fields starting with an underscore itself, so a user process cannot forge
// them.
//
// The line must be valid JSON, read as encoding/json reads it into
// journalEntry (parseJournalStd). Lines as journalctl writes them (one flat
// object of string members, the two of interest without escapes or
// non-ASCII bytes) are read by scanJournal without allocating; any other
// line, such as one whose MESSAGE is an array of bytes, goes to
// encoding/json, which then allocates.
func (p *Parser) ParseJournalJSON(line []byte) (Packet, Verdict) {
	e, ok := scanJournal(line)
	if !ok {
		return p.parseJournalStd(line)
	}
	if string(e.transport) != "kernel" {
		return Packet{}, NotKernel
	}
	if e.message == nil {
		return Packet{}, Malformed // no MESSAGE
	}
	return p.ParseMessage(e.message)
}

// parseJournalStd is ParseJournalJSON by encoding/json: the definition
// scanJournal's results must agree with.
func (p *Parser) parseJournalStd(line []byte) (Packet, Verdict) {
	var e journalEntry
	if err := json.Unmarshal(line, &e); err != nil {
		return Packet{}, Malformed
	}
	if e.Transport != "kernel" {
		return Packet{}, NotKernel
	}
	msg, err := journalMessage(e.Message)
	if err != nil {
		return Packet{}, Malformed
	}
	return p.ParseMessage(msg)
}

// journalMessage decodes MESSAGE in either of its JSON forms.
func journalMessage(raw json.RawMessage) ([]byte, error) {
	if len(raw) == 0 {
		return nil, fmt.Errorf("no MESSAGE field")
	}
	if raw[0] == '"' {
		var s string
		err := json.Unmarshal(raw, &s)
		return []byte(s), err
	}
	var b []byte
	var ints []int
	if err := json.Unmarshal(raw, &ints); err != nil {
		return nil, err
	}
	for _, c := range ints {
		if c < 0 || c > 255 {
			return nil, fmt.Errorf("MESSAGE byte %d out of range", c)
		}
		b = append(b, byte(c))
	}
	return b, nil
}

// scannedEntry is what scanJournal found: the raw bytes of the two string
// values, nil where a member is absent.
type scannedEntry struct {
	transport, message []byte
}

// Byte classes inside a JSON string.
const (
	strPlain   = iota // copied as it is
	strQuote          // ends the string
	strEscape         // starts an escape sequence
	strControl        // not allowed unescaped
	strHigh           // part of a multi-byte (or invalid) UTF-8 sequence
)

var strClass = func() (t [256]uint8) {
	for c := range 0x20 {
		t[c] = strControl
	}
	for c := 0x80; c < 0x100; c++ {
		t[c] = strHigh
	}
	t['"'], t['\\'] = strQuote, strEscape
	return t
}()

// scanJournal reads a line of the shape journalctl writes: an object of
// string members with no whitespace between the tokens. It reports false
// for anything else, and for anything in which encoding/json might read
// _TRANSPORT or MESSAGE differently from their bytes as they stand: a
// member of interest given twice, a value of interest with an escape or a
// byte of 0x80 or more, or a key that is not one of them but that
// encoding/json could match to one (another case, escapes, non-ASCII).
// When it reports true, the line is valid JSON and the entry holds what
// encoding/json would decode.
func scanJournal(b []byte) (e scannedEntry, ok bool) {
	end := len(b) - 1
	if end < 1 || b[0] != '{' || b[end] != '}' {
		return e, false
	}
	if end == 1 {
		return e, true // {}
	}
	for i := 1; ; {
		if b[i] != '"' {
			return e, false
		}
		key, next, plain := scanString(b[:end], i+1)
		if next < 0 || !plain || next+1 >= end || b[next] != ':' || b[next+1] != '"' {
			return e, false
		}
		val, after, plainVal := scanString(b[:end], next+2)
		if after < 0 {
			return e, false
		}
		switch {
		case string(key) == "_TRANSPORT":
			if e.transport != nil || !plainVal {
				return e, false
			}
			e.transport = val
		case string(key) == "MESSAGE":
			if e.message != nil || !plainVal {
				return e, false
			}
			e.message = val
		case looseKeyMatch(key, "TRANSPORT") || looseKeyMatch(key, "MESSAGE"):
			return e, false
		}
		switch {
		case after == end:
			return e, true
		case b[after] != ',' || after+1 >= end:
			return e, false
		}
		i = after + 1
	}
}

// scanString reads the JSON string whose contents start at b[i], up to its
// closing quote within b. It returns the contents, the index after the
// quote (-1 if the string is not valid or not closed) and whether the
// contents are plain: no escape and only ASCII bytes, so that they are the
// decoded value.
func scanString(b []byte, i int) (s []byte, next int, plain bool) {
	plain = true
	for j := i; j < len(b); j++ {
		// Skip eight plain bytes at a time: most of a line is plain.
		for j+8 <= len(b) && !specialByte(binary.LittleEndian.Uint64(b[j:])) {
			j += 8
		}
		if j == len(b) {
			break
		}
		switch strClass[b[j]] {
		case strPlain:
		case strQuote:
			return b[i:j:j], j + 1, plain
		case strEscape:
			plain = false
			n := escapeLen(b[j+1:])
			if n == 0 {
				return nil, -1, false
			}
			j += n
		case strControl:
			return nil, -1, false
		case strHigh:
			plain = false
		}
	}
	return nil, -1, false
}

// specialByte reports whether any of the eight bytes in x is not
// strPlain: a control byte, a quote, a backslash or a byte of 0x80 or more.
// It is exact about whether there is one, though not about which: v -
// 0x01... sets the top bit of every zero byte of v (and, through the
// borrow, maybe of bytes above one), and x - 0x20... that of every byte
// below 0x20.
func specialByte(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	quote, backslash := x^(ones*'"'), x^(ones*'\\')
	return ((x-ones*0x20)|x|(quote-ones)&^quote|(backslash-ones)&^backslash)&highs != 0
}

// escapeLen returns how many bytes of b, which follows a backslash, belong
// to a valid escape sequence, or 0 if it is not one.
func escapeLen(b []byte) int {
	if len(b) == 0 {
		return 0
	}
	switch b[0] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 1
	case 'u':
		if len(b) < 5 {
			return 0
		}
		for _, c := range b[1:5] {
			if !isDigit(c) && (c|0x20 < 'a' || c|0x20 > 'f') { // either case
				return 0
			}
		}
		return 5
	}
	return 0
}

// looseKeyMatch reports whether key, an ASCII key, is name (upper case)
// in any case and with any '_' or '-' added or left out: a superset of the
// keys encoding/json matches to the field name besides the exact one, so
// that the scanner leaves every such line to encoding/json.
func looseKeyMatch(key []byte, name string) bool {
	j := 0
	for _, c := range key {
		if c == '_' || c == '-' {
			continue
		}
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		if j == len(name) || c != name[j] {
			return false
		}
		j++
	}
	return j == len(name)
}
