package firewall

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"
)

func TestFakeBehavesLikeAManager(t *testing.T) {
	c := &clock{t: start}
	f := &Fake{Now: c.Now, Policy: Policy{MaxOpenings: 1}}
	ctx := context.Background()
	ip := netip.MustParseAddr("192.0.2.7")
	if _, err := f.Open(ctx, OpenRequest{IP: ip, Port: 22, Duration: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	o, err := f.Open(ctx, OpenRequest{IP: ip, Port: 22, Duration: 5 * time.Second})
	if err != nil || !o.Deadline.Equal(start.Add(5*time.Second)) {
		t.Fatalf("reopen = %v, %v", o, err)
	}
	if _, err := f.Open(ctx, OpenRequest{IP: netip.MustParseAddr("192.0.2.8"), Port: 22, Duration: time.Second}); !errors.Is(err, ErrExhausted) {
		t.Fatalf("second opening over the limit = %v", err)
	}
	c.Advance(5 * time.Second)
	if got, _ := f.List(ctx); len(got) != 0 {
		t.Fatalf("List after the deadline = %v", got)
	}
	if err := f.Revoke(ctx, ip, 22); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Revoke of an expired opening = %v", err)
	}
	f.SetError(ErrUnavailable)
	if _, err := f.List(ctx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("List with SetError = %v", err)
	}
	if n := len(f.Requests()); n != 3 {
		t.Fatalf("%d requests recorded, want 3", n)
	}
}
