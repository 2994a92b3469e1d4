package kernlog

import (
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
// them. Unlike ParseSyslog, it allocates.
func (p *Parser) ParseJournalJSON(line []byte) (Packet, Verdict) {
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
