package proxy

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// A knockGate paces the knocks sent to each host so that the server's
// per-source LOG limit (10/s, burst 20) admits every one of them: a knock the
// LOG rule drops still moves the client's counter, and enough of them would
// leave the server's counter behind for good.
//
// Per host it allows a knock only interval after the previous one, and at
// most perDelay knocks in any delay. One connection at a time takes its turn
// at a host (acquire), so concurrent connections queue rather than knock in
// parallel. A knock whose opening has not been used by a connection yet, and
// is younger than delay, is live: the next connection to that port dials
// through it instead of knocking again.
//
// The zero value is not usable; create one with newKnockGate. It is safe for
// concurrent use.
type knockGate struct {
	interval time.Duration
	perDelay int
	delay    time.Duration
	now      func() time.Time

	mu    sync.Mutex
	hosts map[netip.Addr]*hostGate
}

type hostGate struct {
	turn   chan struct{} // holds a token while no connection has its turn
	users  int           // connections waiting for or holding the turn; under knockGate.mu
	sent   []time.Time   // knocks sent within the last delay, oldest first
	opened map[uint16]time.Time
}

func newKnockGate(interval time.Duration, perDelay int, delay time.Duration, now func() time.Time) *knockGate {
	return &knockGate{interval: interval, perDelay: perDelay, delay: delay, now: now, hosts: map[netip.Addr]*hostGate{}}
}

// host returns host's state, creating it, and drops idle hosts' states.
// g.mu must be held.
func (g *knockGate) host(host netip.Addr) *hostGate {
	h, ok := g.hosts[host]
	if ok {
		return h
	}
	for a, old := range g.hosts {
		if old.users == 0 && g.idle(old) {
			delete(g.hosts, a)
		}
	}
	h = &hostGate{turn: make(chan struct{}, 1), opened: map[uint16]time.Time{}}
	h.turn <- struct{}{}
	g.hosts[host] = h
	return h
}

// idle reports whether h remembers nothing younger than delay.
func (g *knockGate) idle(h *hostGate) bool {
	g.expire(h)
	return len(h.sent) == 0 && len(h.opened) == 0
}

// expire forgets knocks and openings older than delay.
func (g *knockGate) expire(h *hostGate) {
	cut := g.now().Add(-g.delay)
	for len(h.sent) > 0 && !h.sent[0].After(cut) {
		h.sent = h.sent[1:]
	}
	for port, t := range h.opened {
		if !t.After(cut) {
			delete(h.opened, port)
		}
	}
}

// acquire waits for the caller's turn at host, or until ctx is done. The
// caller must call the returned release when it is done knocking and
// dialling.
func (g *knockGate) acquire(ctx context.Context, host netip.Addr) (release func(), err error) {
	g.mu.Lock()
	h := g.host(host)
	h.users++
	g.mu.Unlock()
	leave := func() {
		g.mu.Lock()
		h.users--
		g.mu.Unlock()
	}
	select {
	case <-h.turn:
		return func() { h.turn <- struct{}{}; leave() }, nil
	case <-ctx.Done():
		leave()
		return nil, fmt.Errorf("waiting for the turn to knock %s behind other connections: %w", host, context.Cause(ctx))
	}
}

// live reports whether port on host has a knock younger than delay whose
// opening no connection has used yet.
func (g *knockGate) live(host netip.Addr, port uint16) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	h := g.host(host)
	g.expire(h)
	_, ok := h.opened[port]
	return ok
}

// reserve records a knock to port on host and returns 0 if one may be sent
// now; otherwise it records nothing and returns how long to wait before
// asking again.
func (g *knockGate) reserve(host netip.Addr, port uint16) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	h := g.host(host)
	g.expire(h)
	now := g.now()
	var wait time.Duration
	if n := len(h.sent); n > 0 {
		wait = h.sent[n-1].Add(g.interval).Sub(now)
	}
	if len(h.sent) >= g.perDelay {
		wait = max(wait, h.sent[len(h.sent)-g.perDelay].Add(g.delay).Sub(now))
	}
	if wait > 0 {
		return wait
	}
	h.sent = append(h.sent, now)
	h.opened[port] = now
	return 0
}

// use records that a connection went through port's opening on host, which
// admits one new connection only.
func (g *knockGate) use(host netip.Addr, port uint16) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.host(host).opened, port)
}
