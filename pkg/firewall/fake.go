package firewall

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"
)

var _ Manager = (*Fake)(nil)

// A Fake is an in-memory Manager for tests. It validates requests with its
// Policy like the real firewall, keeps openings in a map and treats an
// opening as gone once its deadline has passed on its clock.
//
// The zero value is ready to use with the default Policy and time.Now. Set
// Policy and Now before first use. A Fake is safe for concurrent use.
type Fake struct {
	// Policy validates requests and limits the number of openings.
	Policy Policy
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu       sync.Mutex
	openings map[fakeKey]Opening
	requests []OpenRequest
	err      error
}

type fakeKey struct {
	ip   netip.Addr
	port uint16
}

// Open records req and, if it is valid, opens or extends the opening.
func (f *Fake) Open(ctx context.Context, req OpenRequest) (Opening, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, req)
	if f.err != nil {
		return Opening{}, f.err
	}
	if err := f.Policy.Validate(req); err != nil {
		return Opening{}, err
	}
	f.expire()
	k := fakeKey{req.IP, req.Port}
	if _, ok := f.openings[k]; !ok && len(f.openings) >= f.Policy.Limit() {
		return Opening{}, fmt.Errorf("%w: %d live openings", ErrExhausted, len(f.openings))
	}
	o := Opening{IP: req.IP, Port: req.Port, Deadline: f.now().Add(req.Duration), Profile: req.Profile}
	if f.openings == nil {
		f.openings = make(map[fakeKey]Opening)
	}
	f.openings[k] = o
	return o, nil
}

// List returns the openings whose deadline has not passed, sorted by
// address and port.
func (f *Fake) List(ctx context.Context) ([]Opening, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	f.expire()
	out := make([]Opening, 0, len(f.openings))
	for _, o := range f.openings {
		out = append(out, o)
	}
	SortOpenings(out)
	return out, nil
}

// Revoke removes the opening for ip and port, or returns an error wrapping
// ErrNotFound.
func (f *Fake) Revoke(ctx context.Context, ip netip.Addr, port uint16) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.expire()
	k := fakeKey{ip, port}
	if _, ok := f.openings[k]; !ok {
		return fmt.Errorf("revoking %s port %d: %w", ip, port, ErrNotFound)
	}
	delete(f.openings, k)
	return nil
}

// Requests returns a copy of every OpenRequest received, in order,
// including refused ones.
func (f *Fake) Requests() []OpenRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

// SetError makes every later call return err, until SetError(nil).
func (f *Fake) SetError(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func (f *Fake) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

func (f *Fake) expire() {
	now := f.now()
	for k, o := range f.openings {
		if !now.Before(o.Deadline) {
			delete(f.openings, k)
		}
	}
}

// SortOpenings sorts openings by address, then port.
func SortOpenings(openings []Opening) {
	slices.SortFunc(openings, func(a, b Opening) int {
		if c := a.IP.Compare(b.IP); c != 0 {
			return c
		}
		return cmp.Compare(a.Port, b.Port)
	})
}
