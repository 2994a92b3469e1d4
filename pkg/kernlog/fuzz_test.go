package kernlog

import (
	"strings"
	"testing"
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
		if !p.isKnockPort(pkt.DstPort) || !pkt.Src.Is4() {
			t.Fatalf("accepted %+v", pkt)
		}
		for _, f := range []string{" SRC=", " DPT=", " ID=", " SEQ=", " ACK=", " WINDOW=", " SYN"} {
			if !strings.Contains(line, f) {
				t.Fatalf("accepted a line without %q: %q", f, line)
			}
		}
	})
}
