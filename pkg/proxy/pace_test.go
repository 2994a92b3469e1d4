package proxy_test

import (
	"sync"
	"testing"
	"time"

	"github.com/kk-project/kk/pkg/proxy"
)

// TestParallelConnectsArePaced makes 20 parallel connections to one knocked
// host. They must take turns: knocks at least KnockInterval apart and at
// most KnocksPerDelay in any Delay, one connection through per knock (an
// opening admits one), and the others refused once Delay has passed.
func TestParallelConnectsArePaced(t *testing.T) {
	const (
		interval = 50 * time.Millisecond
		perDelay = 3
		delay    = 600 * time.Millisecond
		conns    = 20
	)
	target := closedAddr(t, "tcp4", "127.0.0.1")
	k := &fakeKnocker{t: t, openAt: 1, addr: target}
	h := startProxyWith(t, k, nil, func(c *proxy.Config) {
		c.KnockInterval, c.KnocksPerDelay, c.Delay = interval, perDelay, delay
	}, "127.0.0.1")
	var wg sync.WaitGroup
	errs := make([]error, conns)
	for i := range conns {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = h.dial(target) }()
	}
	wg.Wait()
	calls := k.knocks()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		}
	}
	if ok != len(calls) || ok == 0 || ok == conns {
		t.Errorf("%d of %d connections through with %d knocks; want one per knock, and some refused", ok, conns, len(calls))
	}
	for i := 1; i < len(calls); i++ {
		if gap := calls[i].at.Sub(calls[i-1].at); gap < interval {
			t.Errorf("knocks %d and %d %v apart, want at least %v", i-1, i, gap, interval)
		}
		if i >= perDelay && calls[i].at.Sub(calls[i-perDelay].at) < delay {
			t.Errorf("%d knocks within %v", perDelay+1, delay)
		}
	}
	if n := len(h.connectLines()); n != conns {
		t.Errorf("%d connect log lines, want %d", n, conns)
	}
	t.Logf("%d of %d connections through, %d knocks", ok, conns, len(calls))
}

// TestLiveKnockIsShared checks that a knock no connection used is dialled
// through by the next connection without a knock of its own, and that once
// used, the next connection knocks again.
func TestLiveKnockIsShared(t *testing.T) {
	target := closedAddr(t, "tcp4", "127.0.0.1")
	k := &fakeKnocker{t: t}
	h := startProxyWith(t, k, nil, func(c *proxy.Config) { c.Attempts = 1 }, "127.0.0.1")
	if err := h.dial(target); err == nil {
		t.Fatal("first connection got through a closed port")
	}
	echo(t, target) // the server was slow: the port opens after the first dial
	for i, want := range []int{1, 1, 2} {
		if i > 0 {
			if err := h.dial(target); err != nil {
				t.Fatalf("connection %d: %v", i+1, err)
			}
		}
		if n := len(k.knocks()); n != want {
			t.Errorf("after connection %d: %d knocks, want %d", i+1, n, want)
		}
	}
}
