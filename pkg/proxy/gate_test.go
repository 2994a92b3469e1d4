package proxy

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"
)

var (
	hostA = netip.MustParseAddr("192.0.2.1")
	hostB = netip.MustParseAddr("192.0.2.2")
)

// TestGatePacesKnocks asks the gate for a knock every 100 ms for a minute of
// a fake clock: granted knocks must be at least interval apart and at most
// perDelay in any delay, each host on its own.
func TestGatePacesKnocks(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	g := newKnockGate(time.Second, 10, 15*time.Second, func() time.Time { return now })
	var sent []time.Time
	for i := 0; i < 600; i++ {
		if g.reserve(hostA, 22) == 0 {
			sent = append(sent, now)
		}
		now = now.Add(100 * time.Millisecond)
	}
	// One a second from 0 s to 9 s, 15 s to 24 s, 30 s to 39 s, 45 s to 54 s.
	if len(sent) != 40 {
		t.Errorf("%d knocks granted in a minute, want 40", len(sent))
	}
	for i := 1; i < len(sent); i++ {
		if gap := sent[i].Sub(sent[i-1]); gap < time.Second {
			t.Fatalf("knocks %d and %d granted %v apart, want at least 1s", i-1, i, gap)
		}
	}
	for i := 10; i < len(sent); i++ {
		if span := sent[i].Sub(sent[i-10]); span < 15*time.Second {
			t.Fatalf("11 knocks granted within %v, want at most 10 per 15s", span)
		}
	}
	if g.reserve(hostB, 22) != 0 {
		t.Error("a knock to another host waits for hostA's pace")
	}
}

// TestGateReserveWait checks the wait reserve returns when it refuses.
func TestGateReserveWait(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	g := newKnockGate(time.Second, 2, 15*time.Second, func() time.Time { return now })
	steps := []struct {
		name    string
		advance time.Duration
		want    time.Duration
	}{
		{"first knock goes", 0, 0},
		{"too soon: wait for the interval", 300 * time.Millisecond, 700 * time.Millisecond},
		{"interval passed", 700 * time.Millisecond, 0},
		{"cap of 2 per delay: wait for the first to age out", 5 * time.Second, 9 * time.Second},
		{"first aged out", 9 * time.Second, 0},
	}
	for _, st := range steps {
		now = now.Add(st.advance)
		if got := g.reserve(hostA, 22); got != st.want {
			t.Errorf("%s: reserve = %v, want %v", st.name, got, st.want)
		}
	}
}

// TestGateLiveKnock checks that a knock stays live until a connection uses
// it or delay passes, per port.
func TestGateLiveKnock(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	g := newKnockGate(time.Second, 10, 15*time.Second, func() time.Time { return now })
	if g.live(hostA, 22) {
		t.Fatal("live before any knock")
	}
	g.reserve(hostA, 22)
	if !g.live(hostA, 22) || g.live(hostA, 80) || g.live(hostB, 22) {
		t.Fatal("a knock to hostA:22 must be live for hostA:22 only")
	}
	g.use(hostA, 22)
	if g.live(hostA, 22) {
		t.Error("still live after a connection used the opening")
	}
	now = now.Add(2 * time.Second)
	g.reserve(hostA, 22)
	now = now.Add(15 * time.Second)
	if g.live(hostA, 22) {
		t.Error("still live after delay")
	}
}

// TestGateTurns checks that connections to one host take turns, that a
// waiter gives up with errBusy when its context ends, and that another host
// does not wait.
func TestGateTurns(t *testing.T) {
	g := newKnockGate(time.Second, 10, 15*time.Second, time.Now)
	release, err := g.acquire(context.Background(), hostA)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeoutCause(context.Background(), 50*time.Millisecond, errBusy)
	defer cancel()
	if _, err := g.acquire(ctx, hostA); !errors.Is(err, errBusy) {
		t.Fatalf("second acquire while the first holds the turn: %v, want errBusy", err)
	}
	rb, err := g.acquire(context.Background(), hostB)
	if err != nil {
		t.Fatalf("another host waited: %v", err)
	}
	rb()
	got := make(chan struct{})
	go func() {
		r, err := g.acquire(context.Background(), hostA)
		if err == nil {
			r()
		}
		close(got)
	}()
	select {
	case <-got:
		t.Fatal("acquired hostA's turn while it was held")
	case <-time.After(50 * time.Millisecond):
	}
	release()
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("the waiter did not get the turn after release")
	}
}
