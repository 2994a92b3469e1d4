package kernlog

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkParseNonKnock measures the common case: a LOG line for a port that
// is not a knock port, and a line with another prefix.
func BenchmarkParseNonKnock(b *testing.B) {
	p := NewParser("REJECT ", testPorts)
	cases := readCases(b)
	otherPort := []byte(cases[3].line) // kernel RST reply to port 2247
	otherPrefix := []byte(strings.Replace(cases[0].line, "REJECT ", "DROP ", 1))
	var v6OtherPort []byte // the kernel's IPv6 RST reply, from a knock port
	for _, c := range cases {
		if c.note == "IPv6 RST reply" && v6OtherPort == nil {
			v6OtherPort = []byte(c.line)
		}
	}
	for _, bc := range []struct {
		name string
		line []byte
	}{{"OtherPort", otherPort}, {"OtherPrefix", otherPrefix}, {"IPv6OtherPort", v6OtherPort}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, v := p.ParseSyslog(bc.line); v == Knock {
					b.Fatal("accepted")
				}
			}
		})
	}
}

// BenchmarkParseKnock measures a full parse of a knock candidate, IPv4 and
// IPv6.
func BenchmarkParseKnock(b *testing.B) {
	p := NewParser("REJECT ", testPorts)
	var v6 string
	for _, c := range readCases(b) {
		if strings.HasPrefix(c.want, "knock src=fd00:") && v6 == "" {
			v6 = c.line
		}
	}
	for name, line := range map[string][]byte{"IPv4": []byte(readCases(b)[0].line), "IPv6": []byte(v6)} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, v := p.ParseSyslog(line); v != Knock && v != Loopback {
					b.Fatal(v)
				}
			}
		})
	}
}

// BenchmarkFollowFileReplay reads a 100,000-line log with ExitAtEOF, to
// measure the follower alone.
func BenchmarkFollowFileReplay(b *testing.B) {
	path := filepath.Join(b.TempDir(), "kern.log")
	line := readCases(b)[3].line
	var sb strings.Builder
	for range 100_000 {
		sb.WriteString(line + "\n")
	}
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(sb.Len()))
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		err := FollowFile(context.Background(), path, FileOptions{FromStart: true, ExitAtEOF: true}, func([]byte) { n++ })
		if err != nil || n != 100_000 {
			b.Fatal(n, err)
		}
	}
	b.ReportMetric(float64(b.N)*100_000/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkParseJournalJSON measures a journal entry for another port and
// a knock entry, by ParseJournalJSON and by encoding/json alone
// (parseJournalStd, which ParseJournalJSON used for every line before
// scanJournal).
func BenchmarkParseJournalJSON(b *testing.B) {
	p := NewParser("REJECT ", testPorts)
	lines := journalCases(b)
	for _, bc := range []struct {
		name string
		line []byte
		want Verdict
	}{{"OtherPort", []byte(lines[1]), OtherPort}, {"Knock", []byte(lines[0]), Loopback}} {
		for _, f := range []struct {
			name  string
			parse func([]byte) (Packet, Verdict)
		}{{"Scan", p.ParseJournalJSON}, {"EncodingJSON", p.parseJournalStd}} {
			b.Run(bc.name+"/"+f.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, v := f.parse(bc.line); v != bc.want {
						b.Fatal(v)
					}
				}
			})
		}
	}
}

// BenchmarkCursorRecord measures FollowJournal's per-entry bookkeeping:
// finding and keeping the entry's __CURSOR.
func BenchmarkCursorRecord(b *testing.B) {
	line := []byte(journalCases(b)[1])
	var c Cursor
	b.ReportAllocs()
	for b.Loop() {
		c.record(line)
	}
	if c.String() == "" {
		b.Fatal("no cursor")
	}
}
