package kernlog

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

// FuzzParseSyslog checks that no input panics, and that whatever is accepted
// really carries every field in the line: re-parsing the kernel message alone
// gives the same packet, and its port is a knock port.
func FuzzParseSyslog(f *testing.F) {
	for _, c := range readCases(f) {
		f.Add(c.line)
	}
	p := NewParser("REJECT ", testPorts)
	f.Fuzz(func(t *testing.T, line string) {
		pkt, v := p.ParseSyslog([]byte(line))
		if v != Knock {
			return
		}
		msg, ok := kernelMessage([]byte(line))
		if !ok {
			t.Fatalf("accepted a line without a kernel tag: %q", line)
		}
		if again, v2 := p.ParseMessage(msg); again != pkt || v2 != Knock {
			t.Fatalf("message parses differently: %q", line)
		}
		if !p.isKnockPort(pkt.DstPort) || !pkt.Src.IsValid() || pkt.Src.Is4In6() {
			t.Fatalf("accepted %+v", pkt)
		}
		id := " ID="
		if pkt.Src.Is6() {
			id = " FLOWLBL="
		}
		for _, f := range []string{" SRC=", " DPT=", id, " SEQ=", " ACK=", " WINDOW=", " SYN"} {
			if !strings.Contains(line, f) {
				t.Fatalf("accepted a line without %q: %q", f, line)
			}
		}
	})
}

// FuzzFormatParse round-trips packets through FormatSyslog and ParseSyslog.
func FuzzFormatParse(f *testing.F) {
	p := NewParser("REJECT ", testPorts)
	for _, c := range readCases(f) {
		if pkt, v := p.ParseSyslog([]byte(c.line)); v == Knock && pkt.Src.Is4() {
			f.Add(pkt.Src.As4()[0], pkt.DstPort, pkt.ID, pkt.Seq, pkt.Ack, pkt.Window)
		}
	}
	all := NewParser("REJECT ", nil)
	for port := range 65536 {
		all.ports[port>>6] |= 1 << (port & 63)
	}
	f.Fuzz(func(t *testing.T, a byte, port, id uint16, seq, ack uint32, win uint16) {
		want := Packet{Src: netip.AddrFrom4([4]byte{a, 0, 2, 7}), DstPort: port, ID: id, Seq: seq, Ack: ack, Window: win}
		line := FormatSyslog(time.Date(2026, 11, 6, 9, 8, 7, 0, time.UTC), "host", "REJECT ", want)
		got, v := all.ParseSyslog([]byte(line))
		if v != Knock || got != want {
			t.Fatalf("%q parsed as %+v (%s), want %+v", line, got, v, want)
		}
	})
}

// FuzzParseJournalJSON checks that no journal entry panics the parser and
// that only kernel-transport entries are accepted.
func FuzzParseJournalJSON(f *testing.F) {
	data, err := os.ReadFile("testdata/journald.json")
	if err != nil {
		f.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f.Add(l)
	}
	p := NewParser("REJECT ", testPorts)
	f.Fuzz(func(t *testing.T, line string) {
		pkt, v := p.ParseJournalJSON([]byte(line))
		if v != Knock {
			return
		}
		var e journalEntry
		if err := json.Unmarshal([]byte(line), &e); err != nil || e.Transport != "kernel" {
			t.Fatalf("accepted a non-kernel entry: %q", line)
		}
		if !p.isKnockPort(pkt.DstPort) || !pkt.Src.IsValid() {
			t.Fatalf("accepted %+v", pkt)
		}
	})
}

// journalFastCases are entries on which scanJournal's decisions turn:
// duplicates, other spellings of the keys, escapes, whitespace, values that
// are not strings, truncations.
var journalFastCases = []string{
	`{}`, `{`, `}`, ``, `{"_TRANSPORT":"kernel"}`, `{"MESSAGE":"REJECT x"}`,
	`{"_TRANSPORT":"kernel","MESSAGE":""}`, `{"_TRANSPORT":"kernel","MESSAGE":null}`,
	`{"_TRANSPORT":"kernel","MESSAGE":"a","MESSAGE":"b"}`, `{"_TRANSPORT":"user","_TRANSPORT":"kernel","MESSAGE":"x"}`,
	`{"_transport":"kernel","MESSAGE":"x"}`, `{"_TRANSPORT":"kernel","message":"x"}`, `{"TRANSPORT":"kernel","MESSAGE":"x"}`,
	`{"_TRANSPORT":"kernel","MeSsAgE":"x","MESSAGE":"y"}`, `{"_TRANSPORT":"kernel","MESS\u0041GE":"x"}`,
	`{"_TRANSPORT":"kern\u0065l","MESSAGE":"x"}`, `{"_TRANSPORT":"kernel","MESSAGE":"\u0052EJECT x"}`,
	`{"_TRANSPORT":"kernel","MESSAGE":"a\"b"}`, `{"_TRANSPORT":"kernel","MESSAGE":"a\qb"}`, `{"_TRANSPORT":"kernel","X":"a\u12"}`,
	`{"_TRANSPORT":"kernel","X":"a\u12G4"}`, `{"_TRANSPORT":"kernel","X":"a\u12f4\n\t\/\\"}`, "{\"_TRANSPORT\":\"kernel\",\"X\":\"a\x01\"}",
	"{\"_TRANSPORT\":\"kernel\",\"MESSAGE\":\"\xff\"}", "{\"_TRANSPORT\":\"kernel\",\"X\":\"\xff\xfe\"}",
	"{\"_TRANSPORT\":\"kernel\",\"MESSAGE\":\"\u017f\"}", "{\"_TRAN\u017fPORT\":\"kernel\",\"MESSAGE\":\"x\"}",
	`{"_TRANSPORT":"kernel","MESSAGE":[82,69]}`, `{"_TRANSPORT":"kernel","MESSAGE":[300]}`, `{"_TRANSPORT":"kernel","N":1}`,
	`{"_TRANSPORT":"kernel","A":["x","y"]}`, `{"_TRANSPORT":"kernel","O":{"a":"b"}}`, ` {"_TRANSPORT":"kernel"}`,
	`{"_TRANSPORT":"kernel"} `, `{"_TRANSPORT" : "kernel"}`, `{"_TRANSPORT":"kernel",}`, `{,"_TRANSPORT":"kernel"}`,
	`{"_TRANSPORT":"kernel""MESSAGE":"x"}`, `{"_TRANSPORT":"kernel","MESSAGE":"x"}}`, `{"_TRANSPORT":"kernel","MESSAGE":"x}`,
	`{"_TRANSPORT":"kernel","MESSAGE":"x"`, `{"_TRANSPORT":kernel}`, `{"_TRANSPORT":"kernel","MESSAGE":"x"}{}`,
	`{"_TRANSPORT":"kernel","_-MESSAGE":"x"}`, `{"_TRANSPORT":"kernel","MESSAGE_":"x"}`, `{"_TRANSPORT":"","MESSAGE":"x"}`,
	`{"_TRANSPORT":null,"MESSAGE":"x"}`, `"__CURSOR":"`, `{"__CURSOR":"`, `x"__CURSOR":"a"`, `{"___CURSOR":"a","__CURSOR":"b"}`,
	`{"_":"__CURSOR","__CURSOR":"c"}`, `{"__CURSOR" :"c"}`, `{"__CURSOR":`, `{"__CURSOR":"`, `{"_TRANSPORT":1,"MESSAGE":"x"}`, `{"":"","_TRANSPORT":"kernel","MESSAGE":"x"}`,
}

// journalCases returns testdata/journald.json's lines and journalFastCases.
func journalCases(t testing.TB) []string {
	data, err := os.ReadFile("testdata/journald.json")
	if err != nil {
		t.Fatal(err)
	}
	return append(strings.Split(strings.TrimSpace(string(data)), "\n"), journalFastCases...)
}

// checkJournalFastPath compares ParseJournalJSON with its definition by
// encoding/json on line.
func checkJournalFastPath(t *testing.T, p *Parser, line string) {
	t.Helper()
	for i := 0; i+8 <= len(line); i++ {
		special := false
		for j := i; j < i+8; j++ {
			special = special || strClass[line[j]] != strPlain
		}
		if got := specialByte(binary.LittleEndian.Uint64([]byte(line[i:]))); got != special {
			t.Errorf("specialByte(%q) = %v", line[i:i+8], got)
		}
	}
	if got, want := indexCursorKey([]byte(line)), bytes.Index([]byte(line), cursorKey); got != want {
		t.Errorf("indexCursorKey(%q) = %d, want %d", line, got, want)
	}
	got, gotV := p.ParseJournalJSON([]byte(line))
	want, wantV := p.parseJournalStd([]byte(line))
	if got != want || gotV != wantV {
		t.Errorf("ParseJournalJSON(%q) = %s, encoding/json reads %s", line, describe(got, gotV), describe(want, wantV))
	}
}

func TestJournalFastPathMatchesEncodingJSON(t *testing.T) {
	p := NewParser("REJECT ", testPorts)
	for _, c := range journalCases(t) {
		checkJournalFastPath(t, p, c)
	}
	// Every way of cutting a real entry.
	line := journalCases(t)[0]
	for i := range len(line) {
		checkJournalFastPath(t, p, line[:i])
		checkJournalFastPath(t, p, line[:i]+"}")
	}
}

// FuzzJournalFastPath holds scanJournal to encoding/json on whatever the
// fuzzer finds.
func FuzzJournalFastPath(f *testing.F) {
	for _, c := range journalCases(f) {
		f.Add(c)
	}
	p := NewParser("REJECT ", testPorts)
	f.Fuzz(func(t *testing.T, line string) { checkJournalFastPath(t, p, line) })
}
