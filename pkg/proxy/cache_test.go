package proxy

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

func TestNameCache(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	calls := 0
	answer := []netip.Addr{netip.MustParseAddr("192.0.2.1")}
	c := newNameCache(func(context.Context, string) []netip.Addr {
		calls++
		return answer
	}, func() time.Time { return now })
	ctx := context.Background()

	steps := []struct {
		name      string
		advance   time.Duration
		wantCalls int
		want      string
	}{
		{"first lookup resolves", 0, 1, "192.0.2.1"},
		{"fresh entry is reused", cacheTTL - time.Second, 1, "192.0.2.1"},
		{"expired entry is resolved again", time.Second, 2, "192.0.2.2"},
		{"new answer is reused", time.Second, 2, "192.0.2.2"},
	}
	for i, st := range steps {
		now = now.Add(st.advance)
		if i == 2 {
			answer = []netip.Addr{netip.MustParseAddr("192.0.2.2")}
		}
		got := c.addrs(ctx, "myhost")
		if calls != st.wantCalls || len(got) != 1 || got[0].String() != st.want {
			t.Errorf("%s: got %v after %d lookups, want %s after %d", st.name, got, calls, st.want, st.wantCalls)
		}
	}
	now = now.Add(2 * cacheTTL)
	c.addrs(ctx, "other")
	if _, ok := c.entries["myhost"]; ok {
		t.Error("expired entry for myhost was not pruned")
	}
}
