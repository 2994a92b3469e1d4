package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	xproxy "golang.org/x/net/proxy"

	"github.com/kk-project/kk/internal/nstest"
	"github.com/kk-project/kk/internal/syncbuf"
	"github.com/kk-project/kk/pkg/knock"
	"github.com/kk-project/kk/pkg/profile"
	"github.com/kk-project/kk/pkg/proxy"
)

const (
	cliKnocks   = 200
	proxyKnocks = 64
	proxyHosts  = 8 // the proxy knocks a host at most once a second
	workers     = 2 // per source, so the CLI and the proxy also race themselves
	cliPort     = 22
)

// TestCounterSharedByCLIAndProxy runs 200 command-line knocks interleaved
// with 64 knocks made by the proxy (the real binaries, in one namespace,
// sharing one profile), captures every knock packet on the wire, and
// decodes each back to the counter it was sealed with. All 264 counters
// must differ, and the stored counter must account for every knock plus
// the counters skipped because their IP ID would be 0. Since the proxy
// knocks each host at most once a second, its knocks go to 8 addresses,
// 127.0.0.1 to 127.0.0.8, whose profile directories all link to the one
// profile.
func TestCounterSharedByCLIAndProxy(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.New(t, "cnt")
	bin := kkClient(t)
	knockPort := 20000 + int(randUint16()%20000)
	profiles := t.TempDir()
	p, err := profile.GenerateForGroup(profiles, "127.0.0.1", knockPort, -1) // a client copy: 0600
	if err != nil {
		t.Fatal(err)
	}
	for i := 2; i <= proxyHosts; i++ {
		if err := os.Symlink(p.Dir, filepath.Join(profiles, fmt.Sprintf("127.0.0.%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	capture := startCapture(t, ns, uint16(knockPort))
	target := serveInNetns(t, ns, "0.0.0.0:0", func(c net.Conn) { c.Close() })
	proxyAddr, logs := startProxyBinary(t, ns, profiles, "--wait", "1ms")
	auth := proxyAuth(t, profiles)

	var wg sync.WaitGroup
	errs := make(chan error, 2*workers)
	for w := 0; w < workers; w++ {
		wg.Add(2)
		go func() { defer wg.Done(); errs <- cliKnockLoop(ns, bin, p.Dir, cliKnocks/workers) }()
		go func() {
			defer wg.Done()
			errs <- proxyDialLoop(ns, proxyAddr, auth, target.Port, w, proxyKnocks/workers)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	pkts := capture.wait(t, cliKnocks+proxyKnocks, 15*time.Second)
	checkDistinctCounters(t, p, pkts, target.Port)
	// The proxy's stderr reaches logs through a pipe: allow it to catch up.
	n := 0
	for deadline := time.Now().Add(10 * time.Second); n < proxyKnocks && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		n = strings.Count(logs.String(), "knocks=1 ")
	}
	if n != proxyKnocks {
		t.Errorf("proxy logged %d connections with exactly one knock, want %d", n, proxyKnocks)
	}
}

func cliKnockLoop(ns *nstest.NS, bin, dir string, n int) error {
	for i := 0; i < n; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := ns.Command(ctx, bin, "-p", fmt.Sprint(cliPort), "-s", "127.0.0.1", "-d", dir).CombinedOutput()
		cancel()
		if err != nil || string(out) != "Knock sent.\n" {
			return fmt.Errorf("CLI knock %d: %v: %s", i, err, out)
		}
	}
	return nil
}

// proxyDialLoop makes n connections through the proxy to port, as worker w
// of workers, to the proxyHosts addresses in turn.
func proxyDialLoop(ns *nstest.NS, proxyAddr string, auth *xproxy.Auth, port, w, n int) error {
	d, err := xproxy.SOCKS5("tcp", proxyAddr, auth, nsDialer{ns})
	if err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		host := fmt.Sprintf("127.0.0.%d", 1+(i*workers+w)%proxyHosts)
		c, err := d.Dial("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return fmt.Errorf("proxied connection %d: %w", i, err)
		}
		c.Close()
	}
	return nil
}

// checkDistinctCounters decodes every captured knock to its counter.
func checkDistinctCounters(t *testing.T, p *profile.Profile, pkts []knock.Fields, proxyPort int) {
	t.Helper()
	final := counter(t, p)
	ports := []uint16{cliPort, uint16(proxyPort)}
	byFields := map[knock.Fields]uint32{}
	for c := uint32(0); c < uint32(final)+8; c++ {
		for _, port := range ports {
			byFields[knock.Encode(&p.Keys, c, port)] = c
		}
	}
	used := map[uint32]int{}
	for _, f := range pkts {
		c, ok := byFields[f]
		if !ok {
			t.Fatalf("captured knock %+v matches no counter below the stored %d", f, final)
		}
		used[c]++
	}
	for c, n := range used {
		if n > 1 {
			t.Errorf("counter %d was sent %d times", c, n)
		}
	}
	skipped := 0
	for c := uint32(0); c < uint32(final); c++ {
		if used[c] == 0 {
			skipped++
			if knock.Encode(&p.Keys, c, ports[0]).ID != 0 && knock.Encode(&p.Keys, c, ports[1]).ID != 0 {
				t.Errorf("counter %d was skipped although its IP ID is not 0", c)
			}
		}
	}
	if want := uint64(len(pkts) + skipped); final != want || len(used) != len(pkts) {
		t.Errorf("stored counter %d, %d distinct counters in %d knocks, %d skipped; want stored %d",
			final, len(used), len(pkts), skipped, want)
	}
	t.Logf("%d knocks, %d distinct counters, %d skipped for IP ID 0, stored counter %d", len(pkts), len(used), skipped, final)
}

// nsDialer dials from inside a namespace, for the SOCKS client.
type nsDialer struct{ ns *nstest.NS }

func (d nsDialer) Dial(network, addr string) (net.Conn, error) {
	var c net.Conn
	err := d.ns.Do(func() (err error) {
		c, err = net.DialTimeout(network, addr, 10*time.Second)
		return err
	})
	return c, err
}

// serveInNetns listens on addr inside ns until the test ends and runs
// handle on each accepted connection in its own goroutine.
func serveInNetns(t *testing.T, ns *nstest.NS, addr string, handle func(net.Conn)) *net.TCPAddr {
	t.Helper()
	var l net.Listener
	if err := ns.Do(func() (err error) {
		l, err = net.Listen("tcp", addr) // addr is a literal: its family
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go handle(c)
		}
	}()
	return l.Addr().(*net.TCPAddr)
}

var listening = regexp.MustCompile(`msg=listening addr=(127\.0\.0\.1:\d+)`)

// startProxyBinary runs `kk-client proxy 0 --dir profiles flags...` in ns and returns its address.
// Cleanup stops it with SIGTERM and checks that it exits cleanly.
func startProxyBinary(t *testing.T, ns *nstest.NS, profiles string, flags ...string) (string, *syncbuf.Buffer) {
	t.Helper()
	logs := &syncbuf.Buffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	args := append([]string{kkClient(t), "proxy", "0", "--dir", profiles}, flags...)
	cmd := ns.Command(ctx, args...)
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		defer cancel()
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			if err != nil || !strings.Contains(logs.String(), "msg=stopped") {
				t.Errorf("proxy after SIGTERM: %v; log:\n%s", err, logs.String())
			}
		case <-time.After(15 * time.Second):
			t.Errorf("proxy did not stop within 15s of SIGTERM")
		}
	})
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := listening.FindStringSubmatch(logs.String()); m != nil {
			return m[1], logs
		}
	}
	t.Fatalf("proxy did not report its address within 30s; log:\n%s", logs.String())
	return "", nil
}

// proxyAuth returns the SOCKS5 credentials the proxy made in profiles.
func proxyAuth(t *testing.T, profiles string) *xproxy.Auth {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(profiles, proxy.CredentialsFile))
	if err != nil {
		t.Fatal(err)
	}
	user, pass, _ := strings.Cut(strings.TrimSpace(string(b)), ":")
	return &xproxy.Auth{User: user, Password: pass}
}

// A capture reads, in a namespace, every TCP SYN to one port.
type capture struct {
	mu   sync.Mutex
	pkts []knock.Fields
}

func startCapture(t *testing.T, ns *nstest.NS, port uint16) *capture {
	t.Helper()
	var fd int
	if err := ns.Do(func() (err error) {
		fd, err = openCaptureSocket()
		return err
	}); err != nil {
		t.Fatalf("opening capture socket: %v", err)
	}
	f := os.NewFile(uintptr(fd), "capture")
	t.Cleanup(func() { f.Close() })
	c := &capture{}
	go c.read(f, port)
	return c
}

func (c *capture) read(r io.Reader, port uint16) {
	buf := make([]byte, 65536)
	for {
		n, err := r.Read(buf)
		if err != nil {
			return
		}
		if f, ok := knockFields(buf[:n], port); ok {
			c.mu.Lock()
			c.pkts = append(c.pkts, f)
			c.mu.Unlock()
		}
	}
}

// knockFields returns the knock carried by an IPv4 packet if it is a SYN to
// port.
func knockFields(b []byte, port uint16) (knock.Fields, bool) {
	if len(b) < 20 || b[0]>>4 != 4 {
		return knock.Fields{}, false
	}
	ihl := int(b[0]&0x0f) * 4
	tcp := b[ihl:]
	if len(tcp) < 20 || binary.BigEndian.Uint16(tcp[2:]) != port || tcp[13] != 0x02 {
		return knock.Fields{}, false
	}
	return knock.Fields{ID: binary.BigEndian.Uint16(b[4:]), Seq: binary.BigEndian.Uint32(tcp[4:]),
		Ack: binary.BigEndian.Uint32(tcp[8:]), Window: binary.BigEndian.Uint16(tcp[14:])}, true
}

// wait returns the captured knocks once there are n, or after timeout.
func (c *capture) wait(t *testing.T, n int, timeout time.Duration) []knock.Fields {
	t.Helper()
	for deadline := time.Now().Add(timeout); ; time.Sleep(20 * time.Millisecond) {
		c.mu.Lock()
		got := append([]knock.Fields(nil), c.pkts...)
		c.mu.Unlock()
		if len(got) >= n || time.Now().After(deadline) {
			if len(got) != n {
				t.Errorf("captured %d knocks, want %d", len(got), n)
			}
			return got
		}
	}
}
