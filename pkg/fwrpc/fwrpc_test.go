package fwrpc_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kk-project/kk/pkg/firewall"
	"github.com/kk-project/kk/pkg/fwrpc"
)

// serve runs a server backed by m on a socket in t.TempDir and returns a
// connected client.
func serve(t *testing.T, m firewall.Manager) *fwrpc.Client {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "fw.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	s := fwrpc.NewServer(m, fwrpc.AllowUIDs(uint32(os.Getuid())))
	go s.Serve(l)
	t.Cleanup(s.Stop)
	c, err := fwrpc.Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestOpenListRevokeRoundTrip(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	fake := &firewall.Fake{Now: func() time.Time { return now }}
	c := serve(t, fake)
	ip := netip.MustParseAddr("192.0.2.7")
	o, err := c.Open(ctx(t), firewall.OpenRequest{IP: ip, Port: 22, Duration: 1500 * time.Millisecond, Profile: "ssh"})
	if err != nil {
		t.Fatal(err)
	}
	want := firewall.Opening{IP: ip, Port: 22, Deadline: now.Add(2 * time.Second), Profile: "ssh"}
	if !o.Deadline.Equal(want.Deadline) || o.IP != ip || o.Port != 22 || o.Profile != "ssh" {
		t.Fatalf("Open = %+v, want %+v (duration rounded up to whole seconds)", o, want)
	}
	got, err := c.List(ctx(t))
	if err != nil || len(got) != 1 || got[0].IP != ip || !got[0].Deadline.Equal(want.Deadline) {
		t.Fatalf("List = %+v, %v; want [%+v]", got, err, want)
	}
	if err := c.Revoke(ctx(t), ip, 22); err != nil {
		t.Fatal(err)
	}
	if err := c.Revoke(ctx(t), ip, 22); !errors.Is(err, firewall.ErrNotFound) {
		t.Fatalf("second Revoke = %v, want ErrNotFound", err)
	}
}

func TestErrorsKeepTheirSentinel(t *testing.T) {
	ip := netip.MustParseAddr("192.0.2.7")
	for _, want := range []error{firewall.ErrInvalid, firewall.ErrNotFound, firewall.ErrExhausted, firewall.ErrPermission, firewall.ErrUnavailable} {
		fake := &firewall.Fake{}
		fake.SetError(want)
		c := serve(t, fake)
		_, err := c.Open(ctx(t), firewall.OpenRequest{IP: ip, Port: 22, Duration: time.Second})
		if !errors.Is(err, want) {
			t.Errorf("Open with server error %v: got %v", want, err)
		}
	}
}

func TestInvalidArgumentsFromTheWire(t *testing.T) {
	fake := &firewall.Fake{}
	c := serve(t, fake)
	cases := map[string]firewall.OpenRequest{
		"no address":    {Port: 22, Duration: time.Second},
		"zero port":     {IP: netip.MustParseAddr("192.0.2.1"), Duration: time.Second},
		"zero duration": {IP: netip.MustParseAddr("192.0.2.1"), Port: 22},
		"loopback":      {IP: netip.MustParseAddr("127.0.0.1"), Port: 22, Duration: time.Second},
	}
	for name, req := range cases {
		if _, err := c.Open(ctx(t), req); !errors.Is(err, firewall.ErrInvalid) {
			t.Errorf("%s: Open = %v, want ErrInvalid", name, err)
		}
	}
	if err := c.Revoke(ctx(t), netip.Addr{}, 22); !errors.Is(err, firewall.ErrInvalid) {
		t.Errorf("Revoke without address = %v, want ErrInvalid", err)
	}
	if os, _ := fake.List(ctx(t)); len(os) != 0 {
		t.Errorf("refused requests left openings: %+v", os)
	}
}

func TestUnreachableHelperIsUnavailable(t *testing.T) {
	c, err := fwrpc.Dial(filepath.Join(t.TempDir(), "missing.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.List(ctx(t)); !errors.Is(err, firewall.ErrUnavailable) {
		t.Fatalf("List on missing socket = %v, want ErrUnavailable", err)
	}
}
