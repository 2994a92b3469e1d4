package syn

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kk-project/kk/pkg/profile"
)

func TestResolve(t *testing.T) {
	cases := []struct {
		host, network string
		want          string
		wantErr       error
	}{
		{host: "127.0.0.1", want: "127.0.0.1"},
		{host: "127.0.0.1", network: "ip4", want: "127.0.0.1"},
		{host: "127.0.0.1", network: "ip6", wantErr: ErrNoAddress},
		{host: "::ffff:10.1.2.3", want: "10.1.2.3"},
		{host: "::ffff:10.1.2.3", network: "ip6", wantErr: ErrNoAddress},
		{host: "::1", want: "::1"},
		{host: "::1", network: "ip6", want: "::1"},
		{host: "::1", network: "ip4", wantErr: ErrNoAddress},
		{host: "2001:db8::1", want: "2001:db8::1"},
		{host: "2001:db8::1", network: "ip4", wantErr: ErrNoAddress},
		{host: "fe80::1%lo", network: "ip6", want: "fe80::1%lo"},
	}
	for _, tc := range cases {
		t.Run(tc.host+"/"+tc.network, func(t *testing.T) {
			got, err := Resolve(context.Background(), nil, tc.host, tc.network)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Resolve(%q, %q) error %v, want %v", tc.host, tc.network, err, tc.wantErr)
			}
			if err == nil && got.String() != tc.want {
				t.Errorf("Resolve(%q, %q) = %s, want %s", tc.host, tc.network, got, tc.want)
			}
		})
	}
}

// TestKnockChecksBeforeSpending checks that every failure Knock can detect
// up front leaves the counter alone.
func TestKnockChecksBeforeSpending(t *testing.T) {
	p, err := profile.GenerateForGroup(t.TempDir(), "srv", 700, -1)
	if err != nil {
		t.Fatal(err)
	}
	k := &Knocker{Network: "ip4"}
	ctx := context.Background()
	if err := k.Knock(ctx, "::1", p.Dir, 22); !errors.Is(err, ErrNoAddress) {
		t.Errorf("IPv4 knock to ::1: %v, want ErrNoAddress", err)
	}
	if err := k.Knock(ctx, "127.0.0.1", p.Dir, 0); !errors.Is(err, ErrPort) {
		t.Errorf("knock for port 0: %v, want ErrPort", err)
	}
	if c, _ := p.Counter(); c != 0 {
		t.Errorf("counter %d after failed knocks, want 0", c)
	}
}

func TestLoadProfileNamesMissingFile(t *testing.T) {
	p, err := profile.GenerateForGroup(t.TempDir(), "srv", 701, -1)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range profile.Files {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			for _, other := range profile.Files {
				if other != name {
					b, _ := os.ReadFile(filepath.Join(p.Dir, other))
					os.WriteFile(filepath.Join(dir, other), b, 0o600)
				}
			}
			_, err := LoadProfile(dir, "srv.example")
			var pe *ProfileError
			if !errors.As(err, &pe) || !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("LoadProfile without %s: %v, want a *ProfileError wrapping fs.ErrNotExist", name, err)
			}
			msg := err.Error()
			for _, want := range []string{filepath.Join(dir, name), "scp root@srv.example:/etc/knockknock.d/profiles/"} {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q lacks %q", msg, want)
				}
			}
		})
	}
	if _, err := LoadProfile(p.Dir, "srv.example"); err != nil {
		t.Errorf("complete profile: %v", err)
	}
}
