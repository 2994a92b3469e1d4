package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"time"

	"github.com/kk-project/kk/pkg/profile"
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

// errBusy is the cause when a connection could not get a knock within
// Delay, because other connections to the same host were first.
var errBusy = errors.New("no knock allowed within --delay: other connections to this host used the knocks the server's LOG limit admits")

// knockAndDial knocks target and dials it, up to Attempts times, waiting
// Wait after each knock. It waits its turn behind other connections to
// target, and the gate paces its knocks; it gives up if it could not knock
// within Delay. A live knock another connection left unused is dialled
// through first. A failed knock ends the attempts at once: it means a broken
// profile or a missing capability, which retrying cannot fix.
func (s *Server) knockAndDial(ctx context.Context, dir string, target netip.Addr, port uint16) (net.Conn, int, error) {
	wctx, cancel := context.WithTimeoutCause(ctx, s.cfg.Delay, errBusy)
	defer cancel()
	release, err := s.gate.acquire(wctx, target)
	if err != nil {
		return nil, 0, err
	}
	defer release()
	dest := netip.AddrPortFrom(target, port).String()
	knocks := 0
	var lastErr error
	for n := 1; n <= s.cfg.Attempts; n++ {
		if n > 1 || !s.gate.live(target, port) {
			if err := s.waitToKnock(wctx, target, port); err != nil {
				return nil, knocks, err
			}
			if err := s.cfg.Knocker.Knock(ctx, target.String(), dir, port); err != nil {
				return nil, knocks, fmt.Errorf("knocking %s with profile %s: %w", target, dir, err)
			}
			knocks++
		}
		if err := sleep(ctx, s.cfg.Wait); err != nil {
			return nil, knocks, err
		}
		c, err := s.dialTCP(ctx, dest)
		if err == nil {
			s.gate.use(target, port)
			return c, knocks, nil
		}
		lastErr = err
	}
	return nil, knocks, fmt.Errorf("no connection after %d knocks%s: %w", knocks, v2Hint(dir), lastErr)
}

// v2Hint explains, for a v2 profile in dir, the likeliest reason a knock
// opened nothing: the server saw another source address than the knock
// was bound to. It is "" for a v1 profile.
func v2Hint(dir string) string {
	p, err := profile.Load(dir)
	if err != nil || p.Version != 2 {
		return ""
	}
	return " (profile " + dir + " is v2: its knocks are bound to the source address the server sees; " +
		"if this machine is behind NAT the server sees the NAT's address, so the knocks were refused: " +
		"run kk-client proxy --nat-address <public address>)"
}

// waitToKnock waits until the gate lets a knock to target's port go, or
// until ctx is done.
func (s *Server) waitToKnock(ctx context.Context, target netip.Addr, port uint16) error {
	for {
		d := s.gate.reserve(target, port)
		if d == 0 {
			return nil
		}
		if sleep(ctx, d) != nil {
			return fmt.Errorf("waiting to knock %s: %w", target, context.Cause(ctx))
		}
	}
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
