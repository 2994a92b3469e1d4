package kernlog

import (
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
