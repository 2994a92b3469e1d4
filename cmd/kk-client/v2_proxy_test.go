package main

import (
	"regexp"
	"strings"
	"testing"
	"time"

	xproxy "golang.org/x/net/proxy"

	"github.com/kk-project/kk/internal/nstest"
	"github.com/kk-project/kk/pkg/profile"
)

// TestProxyV2 runs the proxy binary with a v2 profile against a server that
// verifies knocks against the SRC its kernel logs. Bound to its own source
// address, the proxy gets through on its first knock. Told a --nat-address
// the server never sees (as a client behind NAT bound to the wrong address
// would be), its knocks are refused, and its log says that NAT may be why
// and names --nat-address.
func TestProxyV2(t *testing.T) {
	nstest.RequireRoot(t)
	nstest.EnableLogging(t)
	cli, srv := nstest.New(t, "vcli"), nstest.New(t, "vsrv")
	nstest.Link(t, cli, "10.201.11.1/24", srv, "10.201.11.2/24")
	knockPort := 20000 + int(randUint16()%20000)
	prefix := "kkv" + randHex(4) + " "
	firewall(t, srv, knockPort, prefix)
	profiles := t.TempDir()
	p, err := profile.GenerateVersion(profiles, "10.201.11.2", knockPort, -1, nil, 2)
	if err != nil {
		t.Fatal(err)
	}
	echo, refused := echoInNetns(t, srv, "10.201.11.2"), echoInNetns(t, srv, "10.201.11.2")
	mon := startOpener(t, srv, p, prefix, map[uint16]int{uint16(echo.Port): 1, uint16(refused.Port): 1})

	proxyAddr, logs := startProxyBinary(t, cli, profiles, "--wait", "1s")
	d, err := xproxy.SOCKS5("tcp", proxyAddr, proxyAuth(t, profiles), nsDialer{cli})
	if err != nil {
		t.Fatal(err)
	}
	if err := echoThrough(d, echo.String()); err != nil {
		t.Errorf("v2 connection through the proxy: %v", err)
	}
	if got := mon.knocks(uint16(echo.Port)); got != 1 {
		t.Errorf("server accepted %d knocks for port %d, want 1", got, echo.Port)
	}

	natAddr, natLogs := startProxyBinary(t, cli, profiles, "--wait", "500ms", "--attempts", "2",
		"--dial-timeout", "1s", "--nat-address", "198.51.100.9")
	d, err = xproxy.SOCKS5("tcp", natAddr, proxyAuth(t, profiles), nsDialer{cli})
	if err != nil {
		t.Fatal(err)
	}
	if err := echoThrough(d, refused.String()); err == nil {
		t.Error("connection through the proxy bound to a wrong --nat-address succeeded")
	}
	waitForMatch(t, natLogs, regexp.MustCompile(`knocks=2 .*result=.*behind NAT.*--nat-address`), 10*time.Second)
	if got := mon.knocks(uint16(refused.Port)); got != 0 {
		t.Errorf("server accepted %d knocks bound to the wrong address, want 0", got)
	}
	if bad := mon.invalid(); bad != 2 {
		t.Errorf("server refused %d knocks, want the 2 bound to the wrong address", bad)
	}
	if strings.Contains(logs.String(), "NAT") {
		t.Errorf("the working proxy's log mentions NAT:\n%s", logs.String())
	}
}
