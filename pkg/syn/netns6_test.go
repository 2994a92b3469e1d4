package syn

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kk-project/kk/internal/nstest"
	"github.com/kk-project/kk/pkg/knock"
)

// TestIPv6KnockLoggedByServerKernel sends an IPv6 knock SYN over a veth pair
// from one namespace to another and checks the server kernel's ip6tables LOG
// line: FLOWLBL carries the ID, SEQ, ACK and WINDOW the rest.
func TestIPv6KnockLoggedByServerKernel(t *testing.T) {
	nstest.RequireRoot(t)
	nstest.EnableLogging(t)
	cli, srv := linkIPv6(t)
	knockPort := 20000 + int(randUint16()%20000)
	prefix := "kk6t" + randHex(4) + " "
	srv.Run(t, "ip6tables", "-A", "INPUT", "-p", "tcp", "--dport", strconv.Itoa(knockPort),
		"-j", "LOG", "--log-prefix", prefix, "--log-tcp-sequence")
	srv.Run(t, "ip6tables", "-A", "INPUT", "-p", "tcp", "--dport", strconv.Itoa(knockPort), "-j", "DROP")
	kmsg := nstest.OpenKmsg(t)
	want := knock.Fields{ID: 0xfedc, Seq: 0x89abcdef, Ack: 0x01234567, Window: 0x7654}
	p := Packet{Src: netip.MustParseAddr("fd00:201:7::1"), Dst: netip.MustParseAddr("fd00:201:7::2"),
		SrcPort: 45678, DstPort: uint16(knockPort), Fields: want}
	err := cli.Do(func() error {
		raw, err := OpenRaw6()
		if err != nil {
			return err
		}
		defer raw.Close()
		b, err := p.Append(nil)
		if err != nil {
			return err
		}
		return raw.Send(b, p.Dst)
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	line, err := kmsg.Next(ctx, prefix)
	if err != nil {
		t.Fatalf("no LOG line with prefix %q: %v", prefix, err)
	}
	t.Logf("LOG line: %s", line)
	expect := map[string]string{
		"SRC": "fd00:0201:0007:0000:0000:0000:0000:0001", "DST": "fd00:0201:0007:0000:0000:0000:0000:0002",
		"LEN": "60", "HOPLIMIT": "64", "TC": "0", "SPT": "45678", "DPT": strconv.Itoa(knockPort),
		"FLOWLBL": fmt.Sprint(want.ID), "SEQ": fmt.Sprint(want.Seq), "ACK": fmt.Sprint(want.Ack), "WINDOW": fmt.Sprint(want.Window),
	}
	got := map[string]string{}
	for _, m := range logField6.FindAllStringSubmatch(line, -1) {
		got[m[1]] = m[2]
	}
	for k, v := range expect {
		if got[k] != v {
			t.Errorf("LOG %s=%s, want %s", k, got[k], v)
		}
	}
	if !strings.Contains(line, " SYN ") || strings.Contains(line, " ACK ") {
		t.Errorf("LOG flags are not SYN alone: %s", line)
	}
}

var logField6 = regexp.MustCompile(`\b(SRC|DST|LEN|TC|HOPLIMIT|FLOWLBL|SPT|DPT|SEQ|ACK|WINDOW)=(\S+)`)

// linkIPv6 makes a client and a server namespace joined by a veth pair with
// fd00:201:7::1 and ::2, without duplicate address detection so they are
// usable at once.
func linkIPv6(t *testing.T) (cli, srv *nstest.NS) {
	cli, srv = nstest.New(t, "c6"), nstest.New(t, "s6")
	nstest.Link6(t, cli, "fd00:201:7::1/64", srv, "fd00:201:7::2/64")
	return cli, srv
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func randUint16() uint16 {
	b := make([]byte, 2)
	rand.Read(b)
	return uint16(b[0])<<8 | uint16(b[1])
}
