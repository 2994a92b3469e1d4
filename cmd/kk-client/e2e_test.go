package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	xproxy "golang.org/x/net/proxy"

	"github.com/kk-project/kk/internal/nstest"
	"github.com/kk-project/kk/internal/syncbuf"
	"github.com/kk-project/kk/pkg/knock"
	"github.com/kk-project/kk/pkg/profile"
)

// TestProxyThroughFirewall runs the proxy binary in a client namespace
// against a server namespace whose firewall rejects every TCP connection and
// logs the knock port. A stand-in for kk-monitor reads the server kernel's
// LOG lines, verifies the knocks, and opens a port with an iptables rule
// once it has seen the wanted number of knocks for it. The SOCKS client must
// get through on the first knock, on the second (the retry path), and
// directly to a host without a profile, without any knock.
func TestProxyThroughFirewall(t *testing.T) {
	nstest.RequireRoot(t)
	nstest.EnableLogging(t)
	cli, srv := nstest.New(t, "pcli"), nstest.New(t, "psrv")
	nstest.Link(t, cli, "10.201.9.1/24", srv, "10.201.9.2/24")
	srv.Run(t, "ip", "addr", "add", "10.201.9.3/24", "dev", "v"+srv.Name[len(srv.Name)-6:]+"b")
	knockPort := 20000 + int(randUint16()%20000)
	prefix := "kkp" + randHex(4) + " "
	firewall(t, srv, knockPort, prefix)

	profiles := t.TempDir()
	p, err := profile.GenerateForGroup(profiles, "10.201.9.2", knockPort, -1) // a client copy: 0600
	if err != nil {
		t.Fatal(err)
	}
	first, second := echoInNetns(t, srv, "10.201.9.2"), echoInNetns(t, srv, "10.201.9.2")
	direct := echoInNetns(t, srv, "10.201.9.3")
	srv.Run(t, "iptables", "-I", "INPUT", "-d", "10.201.9.3", "-j", "ACCEPT")
	mon := startOpener(t, srv, p, prefix, map[uint16]int{uint16(first.Port): 1, uint16(second.Port): 2})
	proxyAddr, logs := startProxyBinary(t, cli, profiles, "--wait", "2s")

	d, err := xproxy.SOCKS5("tcp", proxyAddr, proxyAuth(t, profiles), nsDialer{cli})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		target *net.TCPAddr
		knocks int
	}{{first, 1}, {second, 2}, {direct, 0}} {
		if err := echoThrough(d, tc.target.String()); err != nil {
			t.Errorf("connection to %s through the proxy: %v", tc.target, err)
		}
		if got := mon.knocks(uint16(tc.target.Port)); got != tc.knocks {
			t.Errorf("server saw %d knocks for port %d, want %d", got, tc.target.Port, tc.knocks)
		}
		want := fmt.Sprintf(`dest=%s knocked=%v .*knocks=%d .*result=ok`, regexp.QuoteMeta(tc.target.String()), tc.knocks > 0, tc.knocks)
		waitForMatch(t, logs, regexp.MustCompile(want), 10*time.Second)
	}
	if bad := mon.invalid(); bad != 0 {
		t.Errorf("server saw %d knocks that did not verify", bad)
	}
}

// firewall makes srv reject all TCP but established connections and ports
// opened in chain KKOPEN, and log the knock port with prefix.
func firewall(t *testing.T, srv *nstest.NS, knockPort int, prefix string) {
	t.Helper()
	kp := strconv.Itoa(knockPort)
	srv.Run(t, "iptables", "-N", "KKOPEN")
	for _, rule := range [][]string{
		{"-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"},
		{"-j", "KKOPEN"},
		{"-p", "tcp", "--dport", kp, "-j", "LOG", "--log-prefix", prefix, "--log-tcp-sequence"},
		{"-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"},
	} {
		srv.Run(t, append([]string{"iptables", "-A", "INPUT"}, rule...)...)
	}
}

// An opener stands in for kk-monitor and kk-firewall: it verifies the knocks
// the server kernel logs and opens a port for the knocking address once it
// has seen the wanted number of knocks for that port.
type opener struct {
	srv       *nstest.NS
	v         *knock.Verifier
	knockPort uint16
	openOn    map[uint16]int

	mu    sync.Mutex
	seen  map[uint16]int
	bad   int
	fails []error
}

func startOpener(t *testing.T, srv *nstest.NS, p *profile.Profile, prefix string, openOn map[uint16]int) *opener {
	t.Helper()
	newVerifier := knock.NewVerifier
	if p.Version == 2 {
		newVerifier = knock.NewVerifierV2
	}
	v, err := newVerifier(&p.Keys, 0, 16)
	if err != nil {
		t.Fatal(err)
	}
	o := &opener{srv: srv, v: v, knockPort: p.KnockPort, openOn: openOn, seen: map[uint16]int{}}
	kmsg := nstest.OpenKmsg(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			line, err := kmsg.Next(ctx, prefix)
			if err != nil {
				return
			}
			o.handle(ctx, line)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		for _, err := range o.fails {
			t.Error(err)
		}
	})
	return o
}

func (o *opener) handle(ctx context.Context, line string) {
	f, src := parseLogLine(line)
	port, used, ok := o.v.MatchFrom(f, knock.Binding{KnockPort: o.knockPort, Source: netip.MustParseAddr(src)})
	o.mu.Lock()
	defer o.mu.Unlock()
	if !ok {
		o.bad++
		return
	}
	o.v.Advance(uint64(used) + 1)
	o.seen[port]++
	if o.seen[port] != o.openOn[port] {
		return
	}
	args := []string{"iptables", "-I", "KKOPEN", "-s", src, "-p", "tcp", "--dport", strconv.Itoa(int(port)), "-j", "ACCEPT"}
	if out, err := o.srv.Command(ctx, args...).CombinedOutput(); err != nil {
		o.fails = append(o.fails, fmt.Errorf("%v: %v: %s", args, err, out))
	}
}

func (o *opener) knocks(port uint16) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.seen[port]
}

func (o *opener) invalid() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.bad
}

// echoInNetns serves an echo server in ns on ip and a free port.
func echoInNetns(t *testing.T, ns *nstest.NS, ip string) *net.TCPAddr {
	return serveInNetns(t, ns, net.JoinHostPort(ip, "0"), func(c net.Conn) {
		defer c.Close()
		io.Copy(c, c)
	})
}

func echoThrough(d xproxy.Dialer, target string) error {
	c, err := d.Dial("tcp", target)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(15 * time.Second))
	msg := "hello " + target
	if _, err := io.WriteString(c, msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
		return fmt.Errorf("echo %q, %v; want %q", got, err, msg)
	}
	return nil
}

func waitForMatch(t *testing.T, b *syncbuf.Buffer, re *regexp.Regexp, timeout time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if re.MatchString(b.String()) {
			return
		}
	}
	t.Errorf("no log line matching %q within %v; log:\n%s", re, timeout, b.String())
}
