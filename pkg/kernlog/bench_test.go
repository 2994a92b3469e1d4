package kernlog

import (
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
	for _, bc := range []struct {
		name string
		line []byte
	}{{"OtherPort", otherPort}, {"OtherPrefix", otherPrefix}} {
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

// BenchmarkParseKnock measures a full parse of a knock candidate.
func BenchmarkParseKnock(b *testing.B) {
	p := NewParser("REJECT ", testPorts)
	line := []byte(readCases(b)[0].line)
	b.ReportAllocs()
	for b.Loop() {
		if _, v := p.ParseSyslog(line); v != Knock {
			b.Fatal(v)
		}
	}
}
