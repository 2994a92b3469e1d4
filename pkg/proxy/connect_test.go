package proxy_test

import (
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	xproxy "golang.org/x/net/proxy"

	"github.com/kk-project/kk/pkg/proxy"
)

var loopback4 = []netip.Addr{netip.MustParseAddr("127.0.0.1")}

// TestConnect drives the proxy with a real SOCKS5 client for each address
// type, knocked and direct, and the retry path.
func TestConnect(t *testing.T) {
	cases := []struct {
		name     string
		v6       bool
		profiles []string
		names    map[string][]netip.Addr
		host     string // destination host as the client gives it; "" = the target's IP
		open     bool   // target listens from the start (a direct destination)
		openAt   int    // knock that opens the target
		knockErr error
		wantErr  bool
		knocks   int
		knockDir string // profile expected in each knock
	}{
		{name: "IPv4 direct", profiles: []string{"elsewhere.example"}, open: true},
		{name: "IPv4 knocked, profile named by address", profiles: []string{"127.0.0.1"}, openAt: 1, knocks: 1, knockDir: "127.0.0.1"},
		{name: "IPv4 knocked, address of a profile's name", profiles: []string{"myhost"},
			names: map[string][]netip.Addr{"myhost": loopback4}, openAt: 1, knocks: 1, knockDir: "myhost"},
		{name: "domain direct", host: "localhost", open: true},
		{name: "domain knocked, profile named by domain", profiles: []string{"server.example"},
			names: map[string][]netip.Addr{"server.example": loopback4}, host: "server.example", openAt: 1, knocks: 1, knockDir: "server.example"},
		{name: "domain knocked, shares an address with a profile", profiles: []string{"myhost"},
			names: map[string][]netip.Addr{"myhost": loopback4, "alias.example": loopback4}, host: "alias.example", openAt: 1, knocks: 1, knockDir: "myhost"},
		{name: "IPv6 direct", v6: true, profiles: []string{"127.0.0.1"}, open: true},
		{name: "IPv6 knocked", v6: true, profiles: []string{"::1"}, openAt: 1, knocks: 1, knockDir: "::1"},
		{name: "retry: port opens on the second knock", profiles: []string{"127.0.0.1"}, openAt: 2, knocks: 2, knockDir: "127.0.0.1"},
		{name: "retry: gives up after three knocks", profiles: []string{"127.0.0.1"}, wantErr: true, knocks: 3, knockDir: "127.0.0.1"},
		{name: "knock fails: no retry", profiles: []string{"127.0.0.1"}, knockErr: errKnock, wantErr: true, knocks: 1, knockDir: "127.0.0.1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			network, ip := "tcp4", "127.0.0.1"
			if tc.v6 {
				ipv6Loopback(t)
				network, ip = "tcp6", "::1"
			}
			target := closedAddr(t, network, ip)
			if tc.open {
				echo(t, target)
			}
			k := &fakeKnocker{t: t, openAt: tc.openAt, addr: target, err: tc.knockErr}
			h := startProxy(t, k, tc.names, tc.profiles...)
			_, port, _ := net.SplitHostPort(target)
			dest := target
			if tc.host != "" {
				dest = net.JoinHostPort(tc.host, port)
			}
			err := h.dial(dest)
			if (err != nil) != tc.wantErr {
				t.Fatalf("dial %s through the proxy: err %v, want error %v", dest, err, tc.wantErr)
			}
			checkKnocks(t, k.knocks(), tc.knocks, ip, tc.knockDir, port)
			sent := tc.knocks
			if tc.knockErr != nil {
				sent = 0
			}
			checkLogLine(t, h, dest, tc.knockDir != "", sent, tc.wantErr)
		})
	}
}

func checkKnocks(t *testing.T, calls []knockCall, n int, ip, dir, port string) {
	t.Helper()
	if len(calls) != n {
		t.Fatalf("%d knocks %v, want %d", len(calls), calls, n)
	}
	for _, c := range calls {
		if c.host != ip || !strings.HasSuffix(c.dir, "/"+dir) || strconv.Itoa(int(c.port)) != port {
			t.Errorf("knock %+v, want host %s, profile .../%s, port %s", c, ip, dir, port)
		}
	}
}

// checkLogLine checks that the connection left exactly one log line, and
// that it tells the destination, whether it was knocked and the result.
func checkLogLine(t *testing.T, h *harness, dest string, knocked bool, knocks int, failed bool) {
	t.Helper()
	lines := h.connectLines()
	if len(lines) != 1 {
		t.Fatalf("%d connect log lines, want 1:\n%s", len(lines), h.logs.String())
	}
	l := lines[0]
	want := []string{"dest=" + dest, "knocked=" + strconv.FormatBool(knocked), "knocks=" + strconv.Itoa(knocks)}
	if !failed {
		want = append(want, "result=ok")
	}
	for _, w := range want {
		if !strings.Contains(l, w) {
			t.Errorf("log line %q lacks %q", l, w)
		}
	}
	if failed && strings.Contains(l, "result=ok") {
		t.Errorf("log line %q says ok for a failed connection", l)
	}
}

// TestRefusesBind speaks raw SOCKS5 to check that BIND gets a "not allowed"
// reply: only CONNECT is served.
func TestRefusesBind(t *testing.T) {
	h := startProxy(t, &fakeKnocker{t: t}, nil)
	c, err := net.DialTimeout("tcp", h.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte{5, 1, 2})
	hello := make([]byte, 2)
	if _, err := io.ReadFull(c, hello); err != nil || hello[0] != 5 || hello[1] != 2 {
		t.Fatalf("method reply %x, %v; want 0502 (user name and password)", hello, err)
	}
	c.Write(append(append([]byte{1, 2}, "kk"...), append([]byte{16}, "0123456789abcdef"...)...))
	if _, err := io.ReadFull(c, hello); err != nil || hello[1] != 0 {
		t.Fatalf("auth reply %x, %v; want success", hello, err)
	}
	c.Write([]byte{5, 2, 0, 1, 127, 0, 0, 1, 0, 80})
	reply := make([]byte, 10)
	if _, err := io.ReadFull(c, reply); err != nil {
		t.Fatalf("reading BIND reply: %v", err)
	}
	if reply[1] != 2 {
		t.Errorf("BIND reply code %d, want 2 (not allowed by ruleset)", reply[1])
	}
}

// TestListenLoopbackOnly checks that the proxy listens on loopback only,
// on the same port for IPv4 and IPv6.
func TestListenLoopbackOnly(t *testing.T) {
	ls, err := proxy.Listen(0, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		defer l.Close()
	}
	first := netip.MustParseAddrPort(ls[0].Addr().String())
	if first.Addr() != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("first listener on %s, want 127.0.0.1", first)
	}
	for _, l := range ls {
		ap := netip.MustParseAddrPort(l.Addr().String())
		if !ap.Addr().IsLoopback() || ap.Port() != first.Port() {
			t.Errorf("listener on %s, want loopback port %d", ap, first.Port())
		}
	}
	if _, err := proxy.Listen(70000, slog.New(slog.DiscardHandler)); err == nil {
		t.Error("Listen(70000) succeeded, want an error")
	}
}

// TestStopClosesConnections stops the proxy while a proxied connection is
// open: Serve must return and the client must see its connection end.
func TestStopClosesConnections(t *testing.T) {
	target := closedAddr(t, "tcp4", "127.0.0.1")
	echo(t, target)
	h := startProxy(t, &fakeKnocker{t: t}, nil)
	d, err := xproxy.SOCKS5("tcp", h.addr, testAuth, xproxy.Direct)
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.Dial("tcp", target)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("read on a proxied connection after stop: %v, want EOF", err)
	}
	if _, err := net.DialTimeout("tcp", h.addr, 2*time.Second); err == nil {
		t.Error("proxy still accepts connections after stop")
	}
}
