// Package firewall defines what kk asks of a firewall: open a TCP port for
// one source address until a deadline, list the openings and revoke one.
//
// The Manager interface is the single definition of that contract. The
// iptables implementation, the gRPC service that kk-firewall serves, the gRPC
// client that kk-monitor uses and the in-memory fake used by tests all
// implement it.
//
// An opening admits one new connection, however long it lasts. The
// iptables rule carries -m limit --limit 1/day --limit-burst 1: its bucket
// holds one connection and refills only a day after it is used, while no
// opening may last longer than MaxOpeningDuration (12 h). The bucket lives
// with the rule in the kernel, so a restarted helper does not refill it;
// a rule replaced with a new one (a moved deadline, or an adopted rule
// capped at --max-duration) starts with a full bucket.
package firewall

import (
	"context"
	"errors"
	"net/netip"
	"time"
)

// Sentinel errors. Implementations wrap them so callers can test with
// errors.Is on either side of the gRPC boundary.
var (
	// ErrInvalid means a request argument was refused; nothing was changed.
	ErrInvalid = errors.New("invalid argument")
	// ErrNotFound means no opening exists for the given address and port.
	ErrNotFound = errors.New("no such opening")
	// ErrExhausted means the limit of live openings was reached.
	ErrExhausted = errors.New("too many openings")
	// ErrPermission means the caller is not allowed to use the firewall.
	ErrPermission = errors.New("permission denied")
	// ErrUnavailable means the firewall helper could not be reached.
	ErrUnavailable = errors.New("firewall helper unavailable")
)

// An OpenRequest asks for NEW TCP connections from IP to Port to be admitted
// for Duration. Profile names the knock profile and is used only for audit
// logging.
type OpenRequest struct {
	IP       netip.Addr
	Port     uint16
	Duration time.Duration
	Profile  string
}

// An Opening is a live hole in the firewall.
type Opening struct {
	IP       netip.Addr
	Port     uint16
	Deadline time.Time
	Profile  string
}

// A Manager opens and closes holes in the firewall. Implementations are safe
// for concurrent use.
type Manager interface {
	// Open admits NEW TCP connections from req.IP to req.Port until the
	// returned opening's deadline. Opening an (IP, Port) pair that is already
	// open moves its deadline; it never creates a second rule.
	Open(ctx context.Context, req OpenRequest) (Opening, error)
	// List returns the live openings.
	List(ctx context.Context) ([]Opening, error)
	// Revoke closes the opening for ip and port now. It returns an error
	// wrapping ErrNotFound if there is none.
	Revoke(ctx context.Context, ip netip.Addr, port uint16) error
}
