package main

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kk-project/kk/internal/nstest"
	"github.com/kk-project/kk/pkg/kernlog"
	"github.com/kk-project/kk/pkg/knock"
	"github.com/kk-project/kk/pkg/profile"
	"github.com/kk-project/kk/pkg/syn"
)

// TestIPv6KnockThroughShippedFirewall runs the shipped
// firewall/knockknock-firewall.sh in a server namespace, so IPv6 TCP is
// rejected and knocks are logged by ip6tables, and knocks over IPv6 with
// kk-client -6. A stand-in for kk-monitor and kk-firewall reads the kernel's
// LOG lines with kernlog's parser, verifies them and opens the port with
// ip6tables. The IPv6 connection that was refused before the knock must get
// through after it. Then a burst of SYNs from two addresses of the client's
// /64 must be logged as one source: at most the script's burst.
func TestIPv6KnockThroughShippedFirewall(t *testing.T) {
	nstest.RequireRoot(t)
	nstest.EnableLogging(t)
	cli, srv := nstest.New(t, "e6c"), nstest.New(t, "e6s")
	ea, _ := nstest.Link6(t, cli, "fd00:201:9::1/64", srv, "fd00:201:9::2/64")
	cli.Run(t, "ip", "addr", "add", "fd00:201:9::3/64", "dev", ea, "nodad")

	knockPort := 20000 + int(randUint16()%20000)
	prefix := "kk6e" + randHex(4) + " "
	const burst = 5
	srv.Run(t, "sh", "../../firewall/knockknock-firewall.sh", "-k", strconv.Itoa(knockPort), "-l", prefix,
		"-r", "1", "-b", strconv.Itoa(burst), "start")
	target := listenInNetns6(t, srv, "[fd00:201:9::2]:0")
	if err := dialFrom(cli, target); err == nil {
		t.Fatalf("IPv6 connection to %s got through before any knock: the firewall does not reject", target)
	}

	home := t.TempDir()
	dir := filepath.Join(home, ".knockknock")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	p, err := profile.GenerateForGroup(dir, "fd00:201:9::2", knockPort, -1)
	if err != nil {
		t.Fatal(err)
	}
	kmsg := nstest.OpenKmsg(t)
	port := target[strings.LastIndex(target, ":")+1:]
	out := cli.Run(t, "env", "HOME="+home, kkClient(t), "-6", "-p", port, "-s", "fd00:201:9::2")
	if out != "Knock sent.\n" {
		t.Fatalf("kk-client: %q", out)
	}
	lines := kmsg.Collect(t, prefix, 1, 10*time.Second)
	if len(lines) != 1 {
		t.Fatalf("%d LOG lines for the knock, want 1", len(lines))
	}
	openFromLogLine(t, srv, p, prefix, lines[0])
	if err := dialFrom(cli, target); err != nil {
		t.Fatalf("IPv6 connection to %s after the knock: %v", target, err)
	}

	// The knock used one of the /64's burst; 12 more SYNs, alternating
	// between two addresses of that /64, may add at most burst-1 lines, one
	// more if a token came back meanwhile. Per address it would be about 2×.
	sendSYNs(t, cli, knockPort, 12, "fd00:201:9::1", "fd00:201:9::3")
	more := kmsg.Collect(t, prefix, 12, 3*time.Second)
	if len(more) < burst-1 || len(more) > burst {
		t.Errorf("%d LOG lines for 12 SYNs from one /64, want %d or %d (the script's per-/64 burst)", len(more), burst-1, burst)
	}
}

// openFromLogLine verifies the knock in a kernel LOG record as kk-monitor
// does and, like kk-firewall, opens the port for its source with ip6tables.
func openFromLogLine(t *testing.T, srv *nstest.NS, p *profile.Profile, prefix, rec string) {
	t.Helper()
	_, msg, _ := strings.Cut(rec, ";")
	pkt, v := kernlog.NewParser(prefix, []uint16{p.KnockPort}).ParseMessage([]byte(strings.TrimSpace(msg) + " "))
	if v != kernlog.Knock || !pkt.Src.Is6() {
		t.Fatalf("kernlog: %s (%+v) for %q", v, pkt, rec)
	}
	ver, err := knock.NewVerifier(&p.Keys, 0, 16)
	if err != nil {
		t.Fatal(err)
	}
	port, _, ok := ver.Match(knock.Fields{ID: pkt.ID, Seq: pkt.Seq, Ack: pkt.Ack, Window: pkt.Window})
	if !ok {
		t.Fatalf("knock in %q does not verify", rec)
	}
	srv.Run(t, "ip6tables", "-I", "INPUT", "1", "-s", pkt.Src.String(), "-p", "tcp", "--dport", strconv.Itoa(int(port)), "-j", "ACCEPT")
}

// listenInNetns6 accepts and closes connections on addr inside ns.
func listenInNetns6(t *testing.T, ns *nstest.NS, addr string) string {
	t.Helper()
	var l net.Listener
	if err := ns.Do(func() (err error) { l, err = net.Listen("tcp6", addr); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return l.Addr().String()
}

func dialFrom(ns *nstest.NS, addr string) error {
	return ns.Do(func() error {
		c, err := net.DialTimeout("tcp6", addr, 3*time.Second)
		if err == nil {
			c.Close()
		}
		return err
	})
}

// sendSYNs sends n garbage knock SYNs to port, alternating between srcs.
func sendSYNs(t *testing.T, ns *nstest.NS, port, n int, srcs ...string) {
	t.Helper()
	dst := netip.MustParseAddr("fd00:201:9::2")
	err := ns.Do(func() error {
		raw, err := syn.OpenRaw6()
		if err != nil {
			return err
		}
		defer raw.Close()
		for i := range n {
			p := syn.Packet{Src: netip.MustParseAddr(srcs[i%len(srcs)]), Dst: dst, SrcPort: syn.EphemeralPort(),
				DstPort: uint16(port), Fields: knock.Fields{ID: uint16(i + 1), Seq: uint32(i)}}
			b, err := p.Append(nil)
			if err != nil {
				return err
			}
			if err := raw.Send(b, dst); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
