package kernlog

import (
	"fmt"
	"time"
)

// FormatSyslog returns the line, without a newline, that rsyslog writes to
// kern.log in its traditional format when the netfilter LOG target (with
// --log-prefix prefix --log-tcp-sequence) logs pkt, a TCP SYN from pkt.Src.
// It is meant for tests, benchmarks and lab scripts; ParseSyslog accepts it.
func FormatSyslog(t time.Time, host, prefix string, pkt Packet) string {
	return fmt.Sprintf("%s %s kernel: %sIN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 "+
		"SRC=%s DST=192.0.2.1 LEN=40 TOS=0x00 PREC=0x00 TTL=64 ID=%d PROTO=TCP SPT=40000 DPT=%d "+
		"SEQ=%d ACK=%d WINDOW=%d RES=0x00 SYN URGP=0 ",
		t.Format(time.Stamp), host, prefix, pkt.Src, pkt.ID, pkt.DstPort, pkt.Seq, pkt.Ack, pkt.Window)
}
