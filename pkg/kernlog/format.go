package kernlog

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// FormatSyslog returns the line, without a newline, that rsyslog writes to
// kern.log in its traditional format when the netfilter LOG target (with
// --log-prefix prefix --log-tcp-sequence) logs pkt, a TCP SYN from pkt.Src:
// an ip6tables line, ID in FLOWLBL, if pkt.Src is IPv6. It is meant for
// tests, benchmarks and lab scripts; ParseSyslog accepts it.
func FormatSyslog(t time.Time, host, prefix string, pkt Packet) string {
	if pkt.Src.Is6() {
		return fmt.Sprintf("%s %s kernel: %sIN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:86:dd "+
			"SRC=%s DST=2001:0db8:0000:0000:0000:0000:0000:0001 LEN=60 TC=0 HOPLIMIT=64 FLOWLBL=%d PROTO=TCP SPT=40000 DPT=%d "+
			"SEQ=%d ACK=%d WINDOW=%d RES=0x00 SYN URGP=0 ",
			t.Format(time.Stamp), host, prefix, fullIPv6(pkt.Src), pkt.ID, pkt.DstPort, pkt.Seq, pkt.Ack, pkt.Window)
	}
	return fmt.Sprintf("%s %s kernel: %sIN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 "+
		"SRC=%s DST=192.0.2.1 LEN=40 TOS=0x00 PREC=0x00 TTL=64 ID=%d PROTO=TCP SPT=40000 DPT=%d "+
		"SEQ=%d ACK=%d WINDOW=%d RES=0x00 SYN URGP=0 ",
		t.Format(time.Stamp), host, prefix, pkt.Src, pkt.ID, pkt.DstPort, pkt.Seq, pkt.Ack, pkt.Window)
}

// fullIPv6 writes a as the kernel's %pI6 does: eight 4-digit groups.
func fullIPv6(a netip.Addr) string {
	b := a.As16()
	var sb strings.Builder
	for i := 0; i < 16; i += 2 {
		if i > 0 {
			sb.WriteByte(':')
		}
		fmt.Fprintf(&sb, "%02x%02x", b[i], b[i+1])
	}
	return sb.String()
}
