package firewall

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// refusals lists requests every Manager must refuse with ErrInvalid under
// testPolicy. The root tests in cmd/kk-firewall send the same kinds over
// gRPC and check INVALID_ARGUMENT.
var refusals = []struct {
	name string
	req  OpenRequest
}{
	{"no address", OpenRequest{Port: 22, Duration: time.Second}},
	{"unspecified v4", OpenRequest{IP: netip.MustParseAddr("0.0.0.0"), Port: 22, Duration: time.Second}},
	{"unspecified v6", OpenRequest{IP: netip.MustParseAddr("::"), Port: 22, Duration: time.Second}},
	{"multicast v4", OpenRequest{IP: netip.MustParseAddr("224.0.0.1"), Port: 22, Duration: time.Second}},
	{"multicast v4 high", OpenRequest{IP: netip.MustParseAddr("239.255.255.250"), Port: 22, Duration: time.Second}},
	{"multicast v6", OpenRequest{IP: netip.MustParseAddr("ff02::1"), Port: 22, Duration: time.Second}},
	{"broadcast", OpenRequest{IP: netip.MustParseAddr("255.255.255.255"), Port: 22, Duration: time.Second}},
	{"loopback v4", OpenRequest{IP: netip.MustParseAddr("127.0.0.1"), Port: 22, Duration: time.Second}},
	{"loopback v4 other", OpenRequest{IP: netip.MustParseAddr("127.1.2.3"), Port: 22, Duration: time.Second}},
	{"loopback v6", OpenRequest{IP: netip.MustParseAddr("::1"), Port: 22, Duration: time.Second}},
	{"v4-mapped v6", OpenRequest{IP: netip.MustParseAddr("::ffff:192.0.2.1"), Port: 22, Duration: time.Second}},
	{"zoned v6", OpenRequest{IP: netip.MustParseAddr("fe80::1%eth0"), Port: 22, Duration: time.Second}},
	{"port zero", OpenRequest{IP: netip.MustParseAddr("192.0.2.1"), Port: 0, Duration: time.Second}},
	{"port not allowed", OpenRequest{IP: netip.MustParseAddr("192.0.2.1"), Port: 23, Duration: time.Second}},
	{"port not allowed high", OpenRequest{IP: netip.MustParseAddr("192.0.2.1"), Port: 65535, Duration: time.Second}},
	{"duration zero", OpenRequest{IP: netip.MustParseAddr("192.0.2.1"), Port: 22}},
	{"duration negative", OpenRequest{IP: netip.MustParseAddr("192.0.2.1"), Port: 22, Duration: -time.Second}},
	{"duration over max", OpenRequest{IP: netip.MustParseAddr("192.0.2.1"), Port: 22, Duration: 301 * time.Second}},
	{"duration far over max", OpenRequest{IP: netip.MustParseAddr("192.0.2.1"), Port: 22, Duration: 1000 * time.Hour}},
	{"profile too long", OpenRequest{IP: netip.MustParseAddr("192.0.2.1"), Port: 22, Duration: time.Second, Profile: strings.Repeat("a", 65)}},
	{"profile with space", OpenRequest{IP: netip.MustParseAddr("192.0.2.1"), Port: 22, Duration: time.Second, Profile: "a b"}},
	{"profile with quote", OpenRequest{IP: netip.MustParseAddr("192.0.2.1"), Port: 22, Duration: time.Second, Profile: `a"b`}},
	{"profile with newline", OpenRequest{IP: netip.MustParseAddr("192.0.2.1"), Port: 22, Duration: time.Second, Profile: "a\nb"}},
	{"profile with option", OpenRequest{IP: netip.MustParseAddr("192.0.2.1"), Port: 22, Duration: time.Second, Profile: "x -j DROP"}},
	{"profile with slash", OpenRequest{IP: netip.MustParseAddr("192.0.2.1"), Port: 22, Duration: time.Second, Profile: "../etc"}},
	{"profile non-ascii", OpenRequest{IP: netip.MustParseAddr("192.0.2.1"), Port: 22, Duration: time.Second, Profile: "é"}},
}

var testPolicy = Policy{AllowPorts: []uint16{22, 443}}

func TestRefusalsChangeNothing(t *testing.T) {
	r := newRig(t, testPolicy)
	live := r.open(t, "192.0.2.1", 22, 5*time.Second)
	before4, before6, calls := r.v4.dump(Chain), r.v6.dump(Chain), r.v4.calls+r.v6.calls
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.m.Open(context.Background(), tc.req)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Open(%+v) = %v, want ErrInvalid", tc.req, err)
			}
		})
	}
	if !slices.Equal(r.v4.dump(Chain), before4) || !slices.Equal(r.v6.dump(Chain), before6) || r.v4.calls+r.v6.calls != calls {
		t.Errorf("refused requests touched the chain: v4 %q v6 %q", r.v4.dump(Chain), r.v6.dump(Chain))
	}
	if got, _ := r.m.List(context.Background()); !slices.Equal(got, []Opening{live}) {
		t.Errorf("List = %v, want only %v", got, live)
	}
}

func TestPolicyAccepts(t *testing.T) {
	for _, req := range []OpenRequest{
		{IP: netip.MustParseAddr("192.0.2.1"), Port: 22, Duration: time.Second, Profile: "ssh_home-1.x"},
		{IP: netip.MustParseAddr("2001:db8::1"), Port: 443, Duration: 300 * time.Second},
		{IP: netip.MustParseAddr("10.0.0.1"), Port: 22, Duration: time.Second, Profile: strings.Repeat("a", 64)},
	} {
		if err := testPolicy.Validate(req); err != nil {
			t.Errorf("Validate(%+v) = %v, want nil", req, err)
		}
	}
	lo := OpenRequest{IP: netip.MustParseAddr("127.0.0.1"), Port: 22, Duration: time.Second}
	if err := (&Policy{AllowLoopback: true}).Validate(lo); err != nil {
		t.Errorf("loopback with AllowLoopback: %v", err)
	}
}

func TestFakeRefusesLikeTheRealManager(t *testing.T) {
	f := &Fake{Policy: testPolicy}
	for _, tc := range refusals {
		if _, err := f.Open(context.Background(), tc.req); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Fake.Open = %v, want ErrInvalid", tc.name, err)
		}
	}
	if got, _ := f.List(context.Background()); len(got) != 0 || len(f.Requests()) != len(refusals) {
		t.Errorf("Fake kept %v after refusals, recorded %d requests", got, len(f.Requests()))
	}
}

func TestProfileLabel(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"clement-laptop", "clement-laptop"},
		{"clement laptop", "clement_laptop"},
		{"user@host.example", "user_host.example"},
		{"caf\u00e9", "caf__"},
		{strings.Repeat("x", MaxProfileLen+10), strings.Repeat("x", MaxProfileLen)},
	} {
		got := ProfileLabel(tt.in)
		if got != tt.want {
			t.Errorf("ProfileLabel(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if err := ValidateProfile(got); err != nil {
			t.Errorf("ValidateProfile(ProfileLabel(%q)): %v", tt.in, err)
		}
	}
}
