package main

import (
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/kk-project/kk/internal/nstest"
	"github.com/kk-project/kk/pkg/knock"
	"github.com/kk-project/kk/pkg/profile"
)

// TestV2KnockBoundToSource sends real v2 knocks from one namespace to
// another and verifies the server kernel's LOG lines as kk-monitor does:
// by default the knock is bound to the SRC the server logs and refused for
// any other; with --nat-address it is bound to that address instead, so
// the SRC seen here (no NAT in between) is refused.
func TestV2KnockBoundToSource(t *testing.T) {
	nstest.RequireRoot(t)
	nstest.EnableLogging(t)
	cli, srv := nstest.New(t, "cli"), nstest.New(t, "srv")
	nstest.Link(t, cli, "10.201.9.1/24", srv, "10.201.9.2/24")
	knockPort := 20000 + int(randUint16()%20000)
	prefix := "kkv2" + randHex(4) + " "
	srv.Run(t, "iptables", "-A", "INPUT", "-p", "tcp", "--dport", strconv.Itoa(knockPort),
		"-j", "LOG", "--log-prefix", prefix, "--log-tcp-sequence")
	srv.Run(t, "iptables", "-A", "INPUT", "-p", "tcp", "--dport", strconv.Itoa(knockPort),
		"-j", "REJECT", "--reject-with", "tcp-reset")
	p, err := profile.GenerateVersion(t.TempDir(), "server", knockPort, -1, nil, 2)
	if err != nil {
		t.Fatal(err)
	}
	kmsg := nstest.OpenKmsg(t)
	const nat = "203.0.113.5"
	for _, tt := range []struct {
		name       string
		args       []string
		boundTo    string
		refusedFor string
	}{
		{"own source address", nil, "10.201.9.1", "10.201.9.3"},
		{"--nat-address", []string{"--nat-address", nat}, nat, "10.201.9.1"},
	} {
		before := counter(t, p)
		args := append([]string{kkClient(t), "-p", "22", "-s", "10.201.9.2", "-d", p.Dir}, tt.args...)
		if out := cli.Run(t, args...); out != "Knock sent.\n" {
			t.Fatalf("%s: output %q", tt.name, out)
		}
		lines := kmsg.Collect(t, prefix, 1, 15*time.Second)
		if len(lines) != 1 {
			t.Fatalf("%s: %d LOG lines, want 1", tt.name, len(lines))
		}
		f, src := parseLogLine(lines[0])
		if src != "10.201.9.1" {
			t.Fatalf("%s: LOG SRC=%s, want 10.201.9.1", tt.name, src)
		}
		v, err := knock.NewVerifierV2(&p.Keys, before, 16)
		if err != nil {
			t.Fatal(err)
		}
		bind := func(a string) knock.Binding {
			return knock.Binding{KnockPort: uint16(knockPort), Source: netip.MustParseAddr(a)}
		}
		if port, _, ok := v.MatchFrom(f, bind(tt.boundTo)); !ok || port != 22 {
			t.Errorf("%s: refused from %s (port %d ok %v), the address it is bound to", tt.name, tt.boundTo, port, ok)
		}
		if _, _, ok := v.MatchFrom(f, bind(tt.refusedFor)); ok {
			t.Errorf("%s: accepted from %s", tt.name, tt.refusedFor)
		}
		if _, _, ok := v.Match(f); ok {
			t.Errorf("%s: accepted as a v1 knock", tt.name)
		}
	}
}
