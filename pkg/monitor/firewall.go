package monitor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/kk-project/kk/pkg/firewall"
)

// perCallTimeout bounds one Open call to kk-firewall.
const perCallTimeout = 2 * time.Second

// firewall returns the connection to kk-firewall, dialling it if needed.
// The caller holds fwMu.
func (m *Monitor) firewall(socket string) (firewall.Manager, error) {
	if m.fw == nil {
		fw, err := m.opts.Dial(socket)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", firewall.ErrUnavailable, err)
		}
		m.fw = fw
	}
	return m.fw, nil
}

// dropFirewall closes the connection so the next call dials again. The
// caller holds fwMu.
func (m *Monitor) dropFirewall() {
	if c, ok := m.fw.(io.Closer); ok {
		c.Close()
	}
	m.fw = nil
}

// closeFirewall closes the connection at exit.
func (m *Monitor) closeFirewall() {
	m.fwMu.Lock()
	defer m.fwMu.Unlock()
	m.dropFirewall()
}

// retryable reports whether err may go away if Open is tried again: the
// helper is down, restarting or slow.
func retryable(err error) bool {
	return errors.Is(err, firewall.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
}

// openWithRetry calls Open until it succeeds, fails for good, or the helper
// has been unreachable for RetryFor; once ctx is done (kk-monitor is
// stopping), it makes one call only.
func (m *Monitor) openWithRetry(ctx context.Context, socket string, req firewall.OpenRequest) (firewall.Opening, error) {
	start := time.Now()
	delay := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		op, err := m.tryOpen(socket, req)
		if err == nil || !retryable(err) {
			return op, err
		}
		if time.Since(start)+delay > m.opts.RetryFor || ctx.Err() != nil {
			return op, fmt.Errorf("kk-firewall unreachable at %s after %d attempts in %v "+
				"(is kk-firewall.socket running?): %w", socket, attempt, time.Since(start).Round(time.Millisecond), err)
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
		}
		delay = min(2*delay, time.Second)
	}
}

// tryOpen makes one Open call. After a retryable failure it drops the
// connection, so the next attempt connects afresh instead of waiting out
// gRPC's reconnect backoff.
func (m *Monitor) tryOpen(socket string, req firewall.OpenRequest) (firewall.Opening, error) {
	m.fwMu.Lock()
	defer m.fwMu.Unlock()
	fw, err := m.firewall(socket)
	if err != nil {
		return firewall.Opening{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), perCallTimeout)
	defer cancel()
	op, err := fw.Open(ctx, req)
	if err != nil && retryable(err) {
		m.dropFirewall()
	}
	return op, err
}
