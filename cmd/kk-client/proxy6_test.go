package main

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	xproxy "golang.org/x/net/proxy"
	"golang.org/x/sys/unix"

	"github.com/kk-project/kk/internal/nstest"
	"github.com/kk-project/kk/pkg/profile"
	"github.com/kk-project/kk/pkg/syn"
)

// TestProxyKnocksIPv6 runs the proxy binary in a client namespace and asks
// it, over SOCKS5, for an IPv6 literal whose profile is
// ~/.knockknock/<that literal>/. The server namespace runs the shipped
// firewall script; a stand-in for kk-monitor and kk-firewall reads the
// ip6tables LOG line of the knock, verifies it and opens the port with
// ip6tables. The connection through the proxy must get through.
func TestProxyKnocksIPv6(t *testing.T) {
	nstest.RequireRoot(t)
	nstest.EnableLogging(t)
	cli, srv := nstest.New(t, "p6c"), nstest.New(t, "p6s")
	nstest.Link6(t, cli, "fd00:201:a::1/64", srv, "fd00:201:a::2/64")

	knockPort := 20000 + int(randUint16()%20000)
	prefix := "kkp6" + randHex(4) + " "
	srv.Run(t, "sh", "../../firewall/knockknock-firewall.sh", "-k", strconv.Itoa(knockPort), "-l", prefix, "start")
	echo := echoInNetns(t, srv, "fd00:201:a::2")
	if err := dialFrom(cli, echo.String()); err == nil {
		t.Fatalf("IPv6 connection to %s got through before any knock: the firewall does not reject", echo)
	}

	profiles := filepath.Join(t.TempDir(), ".knockknock")
	if err := os.Mkdir(profiles, 0o700); err != nil {
		t.Fatal(err)
	}
	p, err := profile.GenerateForGroup(profiles, "fd00:201:a::2", knockPort, -1)
	if err != nil {
		t.Fatal(err)
	}
	kmsg := nstest.OpenKmsg(t)
	proxyAddr, logs := startProxyBinary(t, cli, profiles, "--wait", "1s", "--attempts", "5", "--dial-timeout", "2s")
	d, err := xproxy.SOCKS5("tcp", proxyAddr, proxyAuth(t, profiles), nsDialer{cli})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- echoThrough(d, "[fd00:201:a::2]:"+strconv.Itoa(echo.Port)) }()
	lines := kmsg.Collect(t, prefix, 1, 10*time.Second)
	if len(lines) != 1 {
		t.Fatalf("%d LOG lines for the proxy's knock, want 1; proxy log:\n%s", len(lines), logs.String())
	}
	openFromLogLine(t, srv, p, prefix, lines[0])
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("IPv6 connection through the proxy: %v; proxy log:\n%s", err, logs.String())
		}
	case <-time.After(40 * time.Second):
		t.Fatalf("the connection through the proxy did not end within 40s; proxy log:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "IPv6 destinations cannot be knocked") {
		t.Errorf("the proxy says it cannot knock IPv6 on a host that can:\n%s", logs.String())
	}
}

// TestCheckRaw: the proxy's start-up check refuses a missing capability for
// either family, but serves on a host without IPv6, saying it cannot knock
// IPv6 destinations.
func TestCheckRaw(t *testing.T) {
	noCap := func() error { return errors.Join(unix.EPERM, syn.ErrNoCapability) }
	noV6 := func() error { return unix.EAFNOSUPPORT }
	ok := func() error { return nil }
	cases := []struct {
		name         string
		open4, open6 func() error
		fails, warns bool
	}{
		{"both", ok, ok, false, false},
		{"no IPv6 on the host", ok, noV6, false, true},
		{"no capability", noCap, noCap, true, false},
		{"no IPv6 capability", ok, noCap, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := checkRaw(slog.New(slog.NewTextHandler(&buf, nil)), tc.open4, tc.open6)
			if (err != nil) != tc.fails {
				t.Errorf("checkRaw: %v, want failure %v", err, tc.fails)
			}
			if warns := strings.Contains(buf.String(), "IPv6 destinations cannot be knocked"); warns != tc.warns {
				t.Errorf("log %q, want the IPv6 warning %v", buf.String(), tc.warns)
			}
		})
	}
}
