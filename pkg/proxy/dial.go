package proxy

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"time"
)

// dial connects to addr, a "host:port" whose host is a name or an address,
// knocking first when host has a profile. It logs the connection's one line.
func (s *Server) dial(ctx context.Context, addr string) (net.Conn, error) {
	start := time.Now()
	c, dir, knocks, err := s.route(ctx, addr)
	result := "ok"
	if err != nil {
		result = err.Error()
	}
	profile := ""
	if dir != "" {
		profile = filepath.Base(dir)
	}
	s.log.Info("connect", "dest", addr, "knocked", dir != "", "profile", profile,
		"knocks", knocks, "elapsed", time.Since(start).Round(time.Millisecond), "result", result)
	return c, err
}

// route dials addr directly, or through knockAndDial when its host has a
// profile. It returns the profile directory used and the knocks sent.
func (s *Server) route(ctx context.Context, addr string) (c net.Conn, dir string, knocks int, err error) {
	host, port, err := splitHostPort(addr)
	if err != nil {
		return nil, "", 0, err
	}
	dir, target, err := s.match(ctx, host)
	if err != nil || dir == "" {
		if err == nil {
			c, err = s.dialTCP(ctx, addr)
		}
		return c, dir, 0, err
	}
	c, knocks, err = s.knockAndDial(ctx, dir, target, port)
	return c, dir, knocks, err
}

// knockAndDial knocks target and dials it, up to Attempts times, waiting
// Wait after each knock. A failed knock ends the attempts at once: it means
// a broken profile or a missing capability, which retrying cannot fix.
func (s *Server) knockAndDial(ctx context.Context, dir string, target netip.Addr, port uint16) (net.Conn, int, error) {
	dest := netip.AddrPortFrom(target, port).String()
	var lastErr error
	for n := 1; n <= s.cfg.Attempts; n++ {
		if err := s.cfg.Knocker.Knock(ctx, target.String(), dir, port); err != nil {
			return nil, n - 1, fmt.Errorf("knocking %s with profile %s: %w", target, dir, err)
		}
		if err := sleep(ctx, s.cfg.Wait); err != nil {
			return nil, n, err
		}
		c, err := s.dialTCP(ctx, dest)
		if err == nil {
			return c, n, nil
		}
		lastErr = err
	}
	return nil, s.cfg.Attempts, fmt.Errorf("no connection after %d knocks: %w", s.cfg.Attempts, lastErr)
}

func (s *Server) dialTCP(ctx context.Context, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: s.cfg.DialTimeout}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dialling %s: %w", addr, err)
	}
	return c, nil
}

func splitHostPort(addr string) (string, uint16, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("parsing destination %q: %w", addr, err)
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil || port == 0 {
		return "", 0, fmt.Errorf("parsing destination %q: bad port %q", addr, p)
	}
	return host, uint16(port), nil
}

// sleep waits for d or until ctx is done, whichever comes first.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
