package main

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/kk-project/kk/internal/nstest"
	"github.com/kk-project/kk/pkg/profile"
	"github.com/kk-project/kk/pkg/syn"
)

// TestNATAddressFlag: a --nat-address that is not an address is a usage
// error naming the flag, for the knock and for the proxy.
func TestNATAddressFlag(t *testing.T) {
	p := newProfile(t, "server.example", 669)
	r := runCLI(t, nil, "-p", "22", "-s", "127.0.0.1", "-d", p.Dir, "--nat-address", "my.public.host")
	checkResult(t, r, 2, []string{`invalid value "my.public.host" for flag -nat-address: not an IP address`, "usage:"})
	r = runCLI(t, nil, "proxy", "--nat-address", "300.1.1.1", "0")
	checkResult(t, r, 2, []string{`flag -nat-address: not an IP address`})
	if c := counter(t, p); c != 0 {
		t.Errorf("counter %d after a usage error, want 0", c)
	}
}

// TestNATNote: the note is given for a v2 knock bound to an address a
// server across the internet does not see, and only then.
func TestNATNote(t *testing.T) {
	a := netip.MustParseAddr
	cases := []struct {
		name       string
		version    int
		dst, bound string
		natGiven   bool
		want       string // "" for no note
	}{
		{"RFC 1918 to public", 2, "203.0.113.5", "192.168.1.10", false, "a private address"},
		{"10/8 to public", 2, "8.8.8.8", "10.0.0.2", false, "a private address"},
		{"CGNAT to public", 2, "203.0.113.5", "100.70.1.2", false, "carrier-grade NAT"},
		{"loopback to public", 2, "203.0.113.5", "127.0.0.1", false, "a loopback address"},
		{"link-local to public", 2, "203.0.113.5", "169.254.3.4", false, "a link-local address"},
		{"ULA to public IPv6", 2, "2001:db8::5", "fd00:1::2", false, "a private address"},
		{"IPv6 link-local to public IPv6", 2, "2001:db8::5", "fe80::1", false, "a link-local address"},
		{"public source", 2, "203.0.113.5", "198.51.100.7", false, ""},
		{"public IPv6 source", 2, "2001:db8::5", "2001:db8:1::7", false, ""},
		{"100.128 is not CGNAT", 2, "203.0.113.5", "100.128.0.1", false, ""},
		{"v1", 1, "203.0.113.5", "192.168.1.10", false, ""},
		{"--nat-address given", 2, "203.0.113.5", "192.168.1.10", true, ""},
		{"private server", 2, "10.201.12.9", "10.201.12.1", false, ""},
		{"CGNAT server", 2, "100.64.0.1", "192.168.1.10", false, ""},
		{"ULA server", 2, "fd00:201::2", "fd00:201::1", false, ""},
		{"loopback server", 2, "127.0.0.1", "127.0.0.1", false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := natNote(syn.Sent{Version: tc.version, Dst: a(tc.dst), Bound: a(tc.bound)}, tc.natGiven)
			if tc.want == "" {
				if got != "" {
					t.Errorf("note %q, want none", got)
				}
				return
			}
			for _, w := range []string{tc.want, tc.bound, tc.dst, "NAT", "--nat-address"} {
				if !strings.Contains(got, w) {
					t.Errorf("note %q does not contain %q", got, w)
				}
			}
		})
	}
}

// TestCLINATNote knocks, in a namespace whose only address is private and
// whose default route leads to a veth end with nothing behind it, at a public server address: with a v2
// profile kk-client says "Knock sent." and then, on stderr, names
// --nat-address; with --nat-address, with a v1 profile, or toward a private
// server address it says nothing more.
func TestCLINATNote(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.New(t, "nat")
	dev, peer := "kn"+randHex(3)+"a", "kn"+randHex(3)+"b"
	ns.Run(t, "ip", "link", "add", dev, "type", "veth", "peer", "name", peer)
	ns.Run(t, "ip", "addr", "add", "10.201.12.1/24", "dev", dev)
	ns.Run(t, "ip", "link", "set", dev, "up")
	ns.Run(t, "ip", "link", "set", peer, "up")
	ns.Run(t, "ip", "route", "add", "default", "dev", dev)
	prefix := []string{"ip", "netns", "exec", ns.Name}
	v2, err := profile.GenerateVersion(t.TempDir(), "server", 669, -1, nil, 2)
	if err != nil {
		t.Fatal(err)
	}
	v1 := newProfile(t, "server", 669)
	cases := []struct {
		name string
		args []string
		note bool
	}{
		{"v2 to a public server", []string{"-s", "203.0.113.5", "-d", v2.Dir}, true},
		{"v2 with --nat-address", []string{"-s", "203.0.113.5", "-d", v2.Dir, "--nat-address", "198.51.100.7"}, false},
		{"v1 to a public server", []string{"-s", "203.0.113.5", "-d", v1.Dir}, false},
		{"v2 to a private server", []string{"-s", "10.201.12.9", "-d", v2.Dir}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, prefix, append([]string{"-p", "22"}, tc.args...)...)
			if r.code != 0 || r.stdout != "Knock sent.\n" {
				t.Fatalf("exit code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
			}
			if !tc.note {
				if r.stderr != "" {
					t.Errorf("stderr %q, want nothing", r.stderr)
				}
				return
			}
			for _, w := range []string{"10.201.12.1", "a private address", "203.0.113.5", "NAT", "--nat-address"} {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr %q does not contain %q", r.stderr, w)
				}
			}
			if n := strings.Count(r.stderr, "\n"); n != 1 {
				t.Errorf("stderr has %d lines, want one note:\n%s", n, r.stderr)
			}
		})
	}
}
