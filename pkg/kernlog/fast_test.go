package kernlog

import (
	"bytes"
	"strings"
	"testing"
)

// The fast paths of the parser must refuse exactly what the plain
// definitions below refuse: these tests compare them on the testdata and
// on crafted edge cases, and FuzzFastPaths on whatever the fuzzer finds.

// refLastIndexDPT is the plain definition of lastIndexDPT: the last "DPT="
// that starts a space-separated token.
func refLastIndexDPT(b []byte) int {
	for end := len(b); ; {
		at := bytes.LastIndex(b[:end], dptField)
		if at <= 0 || b[at-1] == ' ' {
			return at
		}
		end = at // "DPT=" cannot overlap itself
	}
}

// refAfterPrefix is the plain definition of afterPrefix: drop a valid
// printk timestamp, then require the prefix.
func refAfterPrefix(prefix, msg []byte) ([]byte, bool) {
	if len(msg) > 0 && msg[0] == '[' {
		if end := bytes.IndexByte(msg[:min(len(msg), 24)], ']'); end > 0 && end+1 < len(msg) && msg[end+1] == ' ' &&
			validPrintkTime(msg[1:end]) {
			msg = msg[end+2:]
		}
	}
	if len(prefix) == 0 || !bytes.HasPrefix(msg, prefix) {
		return nil, false
	}
	return msg[len(prefix):], true
}

// refParseFields is the plain definition of parseFields: one byte loop
// finds each token's end and its first '='.
func (p *Parser) refParseFields(body []byte) (Packet, Verdict) {
	var s scan
	for i := 0; i < len(body); {
		j, eq := i, -1
		for ; j < len(body) && body[j] != ' '; j++ {
			if body[j] == '=' && eq < 0 {
				eq = j - i
			}
		}
		if !s.add(body[i:j], eq) {
			return Packet{}, Malformed
		}
		i = j + 1
	}
	return s.verdict(p)
}

func checkFastPaths(t *testing.T, s string) {
	t.Helper()
	b := []byte(s)
	for i := range min(len(b), 20) + 1 {
		end, eq := tokenEnd(b, i)
		wantEnd := len(b)
		if k := bytes.IndexByte(b[i:], ' '); k >= 0 {
			wantEnd = i + k
		}
		wantEq := bytes.IndexByte(b[i:wantEnd], '=')
		if end != wantEnd || eq != wantEq {
			t.Errorf("tokenEnd(%q, %d) = %d, %d; want %d, %d", s, i, end, eq, wantEnd, wantEq)
		}
	}
	fields := NewParser("REJECT ", testPorts)
	got, gotV := fields.parseFields(b)
	if want, wantV := fields.refParseFields(b); got != want || gotV != wantV {
		t.Errorf("parseFields(%q) = %s, want %s", s, describe(got, gotV), describe(want, wantV))
	}
	if got, want := lastIndexDPT(b), refLastIndexDPT(b); got != want {
		t.Errorf("lastIndexDPT(%q) = %d, want %d", s, got, want)
	}
	// quickCheck never refuses what the full scan accepts.
	p := NewParser("REJECT ", testPorts)
	if v := p.quickCheck(b); v != Knock {
		if _, scan := p.parseFields(b); scan == Knock {
			t.Errorf("quickCheck(%q) = %s, but the scan accepts it", s, v)
		}
	}
	if len(b) > 0 && b[0] == '[' { // splitPrintkTime's validity is validPrintkTime's
		if end := bytes.IndexByte(b[:min(len(b), 24)], ']'); end > 0 && end+1 < len(b) && b[end+1] == ' ' {
			rest, stamped, valid := splitPrintkTime(b)
			if !stamped || valid != validPrintkTime(b[1:end]) || !bytes.Equal(rest, b[end+2:]) {
				t.Errorf("splitPrintkTime(%q) = %q, %v, %v", s, rest, stamped, valid)
			}
		}
	}
	gotPort, gotOK := leadingPort(b)
	wantPort, wantOK := parseUint(token(b), 0xffff)
	if gotOK != wantOK || (gotOK && uint64(gotPort) != wantPort) {
		t.Errorf("leadingPort(%q) = %d, %v; want %d, %v", s, gotPort, gotOK, wantPort, wantOK)
	}
	for _, prefix := range []string{"REJECT ", "[1] ", "[", "] REJECT ", "[  1.0] [x", "KKLOG12:", "REJECT 0"} {
		p := NewParser(prefix, nil)
		if got, want := p.hasPrefix(b), bytes.HasPrefix(b, []byte(prefix)); got != want {
			t.Errorf("prefix %q, hasPrefix(%q) = %v, want %v", prefix, s, got, want)
		}
		got, gotOK := p.afterPrefix(b)
		want, wantOK := refAfterPrefix([]byte(prefix), b)
		if gotOK != wantOK || !bytes.Equal(got, want) {
			t.Errorf("prefix %q, afterPrefix(%q) = %q, %v; want %q, %v", prefix, s, got, gotOK, want, wantOK)
		}
	}
}

func fastPathCases(t testing.TB) []string {
	cases := []string{"", "D", "DPT", "DPT=", "DPT=1", " DPT=1", "xDPT=1 DPT=2", "DPT=0", "DPT=00", "DPT=65535",
		"DPT=65536", "DPT=123456", "DPT=-1", "DPT=+1", "DPT=1x", "DPT= 1", "DST=1 ID=2 DF DPT=3 SEQ=4",
		"0", "01", "65535 x", "99999", "4294967297", "[", "[]", "[] ", "[] REJECT x", "[1] REJECT x", "[1]REJECT x",
		"[ 1.2 ] REJECT x", "[x] REJECT x", "[1] [1] REJECT x", "[12345678901234567890123] REJECT x",
		"[123456789012345678901234] REJECT x", "[  1.0] [x] REJECT", "REJECT [1] x", "[1] ] REJECT x", "[1] ",
		"REJECT", "REJECT 0", "REJECT 01", "KKLOG12", "KKLOG12:", "KKLOG12:x", "kKLOG12:x", "[1] KKLOG12:x", "REJECT\x00x",
		"DPT=1 DPT=4444", "DPT=4444 DPT=1", "xDPT=1", "DPT=DPT=1", "DPTDPT=1 DPT=2", "1234567DPT=1", "DDDDDDDDDDDDDDDD DPT=4444",
		"DPT=4444 DDDDDDDDDDDDDDDDDDD", "DPT=", "DPT=4444", "DEDEDEDEDEDE DPT=7 DEDEDE"}
	for pad := range 40 { // every alignment of a DPT= to the words lastIndexDPT reads
		cases = append(cases, "DPT=1 "+strings.Repeat("D", pad), strings.Repeat("x", pad)+" DPT=4444 DPT=1 DPT",
			strings.Repeat("D", pad)+"DPT=1", "DPT=4444"+strings.Repeat(" DPTx", pad/5)+strings.Repeat(" ", pad%5))
	}
	for _, c := range readCases(t) {
		cases = append(cases, c.line)
		if msg, ok := kernelMessage([]byte(c.line)); ok {
			cases = append(cases, string(msg))
			if i := strings.Index(string(msg), "DPT="); i >= 0 {
				cases = append(cases, string(msg[i+4:]))
			}
		}
	}
	return cases
}

func TestFastPathsMatchDefinitions(t *testing.T) {
	for _, c := range fastPathCases(t) {
		checkFastPaths(t, c)
	}
}

func FuzzFastPaths(f *testing.F) {
	for _, c := range fastPathCases(f) {
		f.Add(c)
	}
	f.Fuzz(checkFastPaths)
}
