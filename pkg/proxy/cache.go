package proxy

import (
	"context"
	"net/netip"
	"sync"
	"time"
)

// cacheTTL is how long a profile name's addresses are reused. Short, since
// profile names may be dynamic host names.
const cacheTTL = 30 * time.Second

// A nameCache remembers what profile names resolve to, failures included,
// so matching a destination does not cost a DNS query per profile on every
// connection. It is safe for concurrent use.
type nameCache struct {
	lookup func(ctx context.Context, host string) []netip.Addr
	now    func() time.Time

	mu      sync.Mutex
	entries map[string]cacheEntry
}

type cacheEntry struct {
	addrs   []netip.Addr
	expires time.Time
}

func newNameCache(lookup func(context.Context, string) []netip.Addr, now func() time.Time) *nameCache {
	return &nameCache{lookup: lookup, now: now, entries: map[string]cacheEntry{}}
}

// addrs returns name's addresses, from the cache while they are fresh.
func (c *nameCache) addrs(ctx context.Context, name string) []netip.Addr {
	c.mu.Lock()
	e, ok := c.entries[name]
	c.mu.Unlock()
	if ok && c.now().Before(e.expires) {
		return e.addrs
	}
	addrs := c.lookup(ctx, name)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries[name] = cacheEntry{addrs: addrs, expires: c.now().Add(cacheTTL)}
	c.prune()
	return addrs
}

// prune drops expired entries, so names of deleted profiles do not pile up.
func (c *nameCache) prune() {
	now := c.now()
	for name, e := range c.entries {
		if !now.Before(e.expires) {
			delete(c.entries, name)
		}
	}
}
