package main

import (
	"context"
	"sync"
	"time"
)

// idleTracker remembers when the last RPC started or ended. It is safe for
// concurrent use.
type idleTracker struct {
	mu   sync.Mutex
	last time.Time
}

func newIdleTracker() *idleTracker {
	return &idleTracker{last: time.Now()}
}

func (t *idleTracker) touch() {
	t.mu.Lock()
	t.last = time.Now()
	t.mu.Unlock()
}

func (t *idleTracker) since() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return time.Since(t.last)
}

// wait returns when ctx is done, or, if limit > 0, when no RPC has been
// seen for limit and pending reports no openings. It says which.
func (t *idleTracker) wait(ctx context.Context, limit time.Duration, pending func() int) string {
	tick := time.NewTicker(min(max(limit/4, 10*time.Millisecond), time.Second))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return "signal"
		case <-tick.C:
			if limit > 0 && t.since() >= limit && pending() == 0 {
				return "idle"
			}
		}
	}
}
