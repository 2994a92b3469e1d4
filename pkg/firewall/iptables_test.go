package firewall

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable clock for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type rig struct {
	m      *IPTables
	v4, v6 *fakeIPT
	clock  *clock
}

var start = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func newRig(t *testing.T, p Policy) *rig {
	t.Helper()
	r := &rig{v4: newFakeIPT(), v6: newFakeIPT(), clock: &clock{t: start}}
	r.start(t, p)
	return r
}

// start builds a manager over r's tables, as a (re)started helper would.
func (r *rig) start(t *testing.T, p Policy) {
	t.Helper()
	m, err := newIPTables(r.v4, r.v6, Config{Policy: p, Now: r.clock.Now, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	r.m = m
}

func (r *rig) open(t *testing.T, ip string, port uint16, d time.Duration) Opening {
	t.Helper()
	o, err := r.m.Open(context.Background(), OpenRequest{IP: netip.MustParseAddr(ip), Port: port, Duration: d, Profile: "home"})
	if err != nil {
		t.Fatalf("Open(%s, %d, %v): %v", ip, port, d, err)
	}
	return o
}

func TestStartCreatesChainAndJump(t *testing.T) {
	r := newRig(t, Policy{})
	for _, f := range []*fakeIPT{r.v4, r.v6} {
		if got := f.dump("INPUT"); !slices.Equal(got, []string{"-N INPUT", "-A INPUT -j KNOCKKNOCK"}) {
			t.Errorf("INPUT = %q", got)
		}
	}
	r.start(t, Policy{}) // a second start must not add a second jump
	if got := r.v4.dump("INPUT"); len(got) != 2 {
		t.Errorf("after restart INPUT = %q", got)
	}
}

func TestOpenAddsOneRuleAndReopenMovesIt(t *testing.T) {
	r := newRig(t, Policy{})
	o := r.open(t, "192.0.2.7", 22, 2500*time.Millisecond)
	if want := start.Add(3 * time.Second); !o.Deadline.Equal(want) {
		t.Fatalf("deadline %v, want %v (rounded up to the second)", o.Deadline, want)
	}
	if got := r.v4.dump(Chain); !slices.Equal(got, []string{"-N " + Chain, ruleLine(o)}) {
		t.Fatalf("chain = %q", got)
	}
	r.clock.Advance(time.Second)
	o2 := r.open(t, "192.0.2.7", 22, 10*time.Second)
	if got := r.v4.dump(Chain); !slices.Equal(got, []string{"-N " + Chain, ruleLine(o2)}) {
		t.Fatalf("after reopen chain = %q, want only the moved rule", got)
	}
	if o6 := r.open(t, "2001:db8::7", 22, time.Second); len(r.v6.dump(Chain)) != 2 || len(r.v4.dump(Chain)) != 2 {
		t.Fatalf("IPv6 opening %v did not go to ip6tables only: v4 %q v6 %q", o6, r.v4.dump(Chain), r.v6.dump(Chain))
	}
}

func TestExpiryRevokeAndList(t *testing.T) {
	r := newRig(t, Policy{})
	a := r.open(t, "192.0.2.7", 22, 2*time.Second)
	b := r.open(t, "192.0.2.8", 22, 5*time.Second)
	ctx := context.Background()
	if got, _ := r.m.List(ctx); !slices.Equal(got, []Opening{a, b}) {
		t.Fatalf("List = %v, want %v", got, []Opening{a, b})
	}
	r.clock.Advance(2 * time.Second)
	r.m.expire()
	if got := r.v4.dump(Chain); !slices.Equal(got, []string{"-N " + Chain, ruleLine(b)}) {
		t.Fatalf("after a's deadline chain = %q", got)
	}
	if err := r.m.Revoke(ctx, b.IP, b.Port); err != nil {
		t.Fatal(err)
	}
	if got := r.v4.dump(Chain); len(got) != 1 || r.m.Pending() != 0 {
		t.Fatalf("after revoke chain = %q, pending %d", got, r.m.Pending())
	}
	if err := r.m.Revoke(ctx, b.IP, b.Port); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second revoke = %v, want ErrNotFound", err)
	}
}

// TestOpenNotHeldUpByExpiry holds an expiry's rule deletion (an iptables
// exec in production) and checks that an Open still completes meanwhile.
func TestOpenNotHeldUpByExpiry(t *testing.T) {
	r := newRig(t, Policy{})
	a := r.open(t, "192.0.2.7", 22, 2*time.Second)
	r.v4.deleteGate = make(chan struct{})
	r.v4.deleting = make(chan struct{}, 1)
	r.clock.Advance(2 * time.Second)
	go r.m.expire() // the manager's own timer may get there first; either will do
	select {
	case <-r.v4.deleting:
	case <-time.After(5 * time.Second):
		t.Fatal("expiry never started deleting the rule")
	}
	opened := make(chan error, 1)
	go func() {
		_, err := r.m.Open(context.Background(), OpenRequest{IP: netip.MustParseAddr("192.0.2.9"), Port: 22, Duration: 5 * time.Second})
		opened <- err
	}()
	select {
	case err := <-opened:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		close(r.v4.deleteGate) // let the expiry finish so cleanup does not hang
		t.Fatal("Open waited for an expiry's rule deletion")
	}
	if r.m.Pending() != 1 {
		t.Fatalf("pending = %d, want 1 (a forgotten, the new one live)", r.m.Pending())
	}
	close(r.v4.deleteGate)
	deadline := time.Now().Add(5 * time.Second)
	for slices.Contains(r.v4.dump(Chain), ruleLine(a)) {
		if time.Now().After(deadline) {
			t.Fatalf("expired rule still in the chain: %q", r.v4.dump(Chain))
		}
		time.Sleep(time.Millisecond)
	}
}

func TestRuleDeletedByHandIsForgottenQuietly(t *testing.T) {
	r := newRig(t, Policy{})
	o := r.open(t, "192.0.2.7", 22, 2*time.Second)
	if err := r.v4.Delete(table, Chain, ruleSpec(o)...); err != nil {
		t.Fatal(err)
	}
	r.clock.Advance(3 * time.Second)
	calls := r.v4.calls
	r.m.expire()
	r.m.expire()
	if r.m.Pending() != 0 || r.v4.calls != calls {
		t.Fatalf("pending %d, %d mutating calls after expiry of a vanished rule; want 0, 0", r.m.Pending(), r.v4.calls-calls)
	}
}

func TestRestartSweepsAndAdopts(t *testing.T) {
	r := newRig(t, Policy{})
	old := r.open(t, "192.0.2.7", 22, 2*time.Second)
	live := r.open(t, "192.0.2.8", 22, 60*time.Second)
	r.v4.Append(table, Chain, "-s", "192.0.2.9", "-j", "ACCEPT") // not ours: cannot parse
	r.m.Close()
	r.clock.Advance(5 * time.Second)
	r.start(t, Policy{})
	if got := r.v4.dump(Chain); !slices.Equal(got, []string{"-N " + Chain, ruleLine(live)}) {
		t.Fatalf("after restart chain = %q, want only %v (expired %v)", got, live, old)
	}
	r.clock.Advance(60 * time.Second)
	r.m.expire()
	if got := r.v4.dump(Chain); len(got) != 1 {
		t.Fatalf("adopted rule not removed at its deadline: %q", got)
	}
}

func TestMaxOpenings(t *testing.T) {
	r := newRig(t, Policy{MaxOpenings: 2})
	r.open(t, "192.0.2.1", 22, time.Second)
	r.open(t, "192.0.2.2", 22, time.Second)
	r.open(t, "192.0.2.2", 22, 2*time.Second) // reopening is not a new opening
	_, err := r.m.Open(context.Background(), OpenRequest{IP: netip.MustParseAddr("192.0.2.3"), Port: 22, Duration: time.Second})
	if !errors.Is(err, ErrExhausted) || len(r.v4.dump(Chain)) != 3 {
		t.Fatalf("third opening: %v, chain %q; want ErrExhausted and 2 rules", err, r.v4.dump(Chain))
	}
}

func TestIPTablesFailureIsReported(t *testing.T) {
	r := newRig(t, Policy{})
	r.v4.fail = errors.New("xtables lock held")
	_, err := r.m.Open(context.Background(), OpenRequest{IP: netip.MustParseAddr("192.0.2.1"), Port: 22, Duration: time.Second})
	if err == nil || errors.Is(err, ErrInvalid) || r.m.Pending() != 0 {
		t.Fatalf("Open with failing iptables = %v, pending %d", err, r.m.Pending())
	}
}

func TestCleanupRemovesChainAndJump(t *testing.T) {
	r := newRig(t, Policy{})
	r.open(t, "192.0.2.1", 22, time.Second)
	if err := cleanup(r.v4); err != nil {
		t.Fatal(err)
	}
	if ok, _ := r.v4.ChainExists(table, Chain); ok || len(r.v4.dump("INPUT")) != 1 {
		t.Fatalf("after cleanup: chain exists %v, INPUT %q", ok, r.v4.dump("INPUT"))
	}
}

func TestConcurrentOpens(t *testing.T) {
	r := newRig(t, Policy{})
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ip := netip.AddrFrom4([4]byte{192, 0, 2, byte(i % 20)}) // each address twice
			if _, err := r.m.Open(context.Background(), OpenRequest{IP: ip, Port: 22, Duration: time.Duration(1+i%3) * time.Second}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got := len(r.v4.dump(Chain)) - 1; got != 20 || r.m.Pending() != 20 {
		t.Fatalf("%d rules, %d pending after 40 opens of 20 addresses; want 20", got, r.m.Pending())
	}
}

func TestBrokenIP6TablesLeavesIPv4Serving(t *testing.T) {
	v4 := newFakeIPT()
	m, err := newIPTables(v4, brokenIPT{errors.New("ip6tables: modprobe failed")}, Config{Now: (&clock{t: start}).Now, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("start with broken ip6tables: %v", err)
	}
	defer m.Close()
	ctx := context.Background()
	if _, err := m.Open(ctx, OpenRequest{IP: netip.MustParseAddr("192.0.2.1"), Port: 22, Duration: time.Second}); err != nil {
		t.Fatalf("IPv4 Open: %v", err)
	}
	_, err = m.Open(ctx, OpenRequest{IP: netip.MustParseAddr("2001:db8::1"), Port: 22, Duration: time.Second})
	if err == nil || !strings.Contains(err.Error(), "modprobe failed") {
		t.Fatalf("IPv6 Open = %v, want the ip6tables failure", err)
	}
	if got, err := m.List(ctx); err != nil || len(got) != 1 {
		t.Fatalf("List = %v, %v", got, err)
	}
}
