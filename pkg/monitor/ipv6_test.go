package monitor

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kk-project/kk/pkg/knock"
	"github.com/kk-project/kk/pkg/profile"
)

// ipv6LogLine is a real ip6tables LOG line, captured in a namespace from
// kk's raw IPv6 sender (see pkg/kernlog/testdata/syslog.txt), with the
// knock port and the four knock fields left to fill in.
const ipv6LogLine = "Nov 26 11:07:20 kkhost kernel: [  440.809023] REJECT IN=v6ac0fa9b OUT= " +
	"MAC=b2:b2:67:7b:f5:03:12:87:d5:65:58:4c:86:dd SRC=fd00:0201:0007:0000:0000:0000:0000:0001 " +
	"DST=fd00:0201:0007:0000:0000:0000:0000:0002 LEN=60 TC=0 HOPLIMIT=64 FLOWLBL=%d PROTO=TCP " +
	"SPT=45678 DPT=%d SEQ=%d ACK=%d WINDOW=%d RES=0x00 SYN URGP=0 "

// ipv6KnockLine returns the line for p's knock for port with counter, with
// extra added to the flow label above its low 16 bits.
func ipv6KnockLine(p *profile.Profile, counter uint32, port uint16, extra uint32) string {
	f := knock.Encode(&p.Keys, counter, port)
	return fmt.Sprintf(ipv6LogLine, uint32(f.ID)|extra, p.KnockPort, f.Seq, f.Ack, f.Window)
}

// TestIPv6KnockOpens: an IPv6 knock, its ID in the flow label, opens the
// port for the IPv6 source once; its replay and a copy whose flow label has
// a top bit set open nothing.
func TestIPv6KnockOpens(t *testing.T) {
	h := newHarness(t)
	p := h.addProfile("web", 4444)
	h.startHelper()
	h.start(h.options())
	const src = "fd00:201:7::1"
	line := ipv6KnockLine(p, 0, 22, 0)
	h.appendLines(line)
	h.waitFor("open", func() bool { return h.opens(src, 22) == 1 })
	if !strings.Contains(h.logs.String(), `msg="knock accepted" profile=web src=`+src+` port=22`) {
		t.Errorf("no accepted-knock log line:\n%s", h.logs.String())
	}
	h.appendLines(line, ipv6KnockLine(p, 1, 23, 1<<16))
	h.settle(p, 2)
	if n := h.opens(src, 22) + h.opens(src, 23); n != 1 {
		t.Fatalf("%d opens after a replay and a 20-bit flow label, want 1", n)
	}
	if c := h.counter(p); c != 3 {
		t.Errorf("counter on disk %d, want 3 (knock 0, marker 2)", c)
	}
}
