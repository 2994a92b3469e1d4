package proxy

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// lookupTimeout bounds each name lookup made while matching profiles.
const lookupTimeout = 5 * time.Second

// match finds the profile for host. A profile matches when its directory
// name equals host (ignoring case, as DNS does), or when one of host's addresses is one of the addresses
// that the directory name resolves to. It returns the profile directory
// ("" when none matches) and the address to knock and dial. The directory
// is read on every call, so profiles added while the proxy runs are used.
func (s *Server) match(ctx context.Context, host string) (dir string, target netip.Addr, err error) {
	names := s.profileNames()
	if len(names) == 0 {
		return "", netip.Addr{}, nil
	}
	addrs := s.lookup(ctx, host)
	for _, name := range names {
		if !strings.EqualFold(name, host) {
			continue
		}
		if len(addrs) == 0 {
			return "", netip.Addr{}, fmt.Errorf("resolving %s, which has a profile: no address found", host)
		}
		return filepath.Join(s.cfg.ProfilesDir, name), preferIPv4(addrs), nil
	}
	for _, name := range names {
		var shared []netip.Addr
		for _, a := range s.names.addrs(ctx, name) {
			if slices.Contains(addrs, a) {
				shared = append(shared, a)
			}
		}
		if len(shared) > 0 {
			return filepath.Join(s.cfg.ProfilesDir, name), preferIPv4(shared), nil
		}
	}
	return "", netip.Addr{}, nil
}

// profileNames lists the subdirectories of the profiles directory. A missing
// or unreadable directory means no profiles.
func (s *Server) profileNames() []string {
	entries, err := os.ReadDir(s.cfg.ProfilesDir)
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		fi, err := os.Stat(filepath.Join(s.cfg.ProfilesDir, e.Name()))
		if err == nil && fi.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names
}

// lookup returns host's addresses, host itself if it is an address literal.
// Failures yield no addresses: an unresolvable profile name matches nothing.
func (s *Server) lookup(ctx context.Context, host string) []netip.Addr {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a.Unmap()}
	}
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	addrs, err := s.cfg.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil
	}
	for i := range addrs {
		addrs[i] = addrs[i].Unmap()
	}
	return addrs
}

// preferIPv4 returns the first IPv4 address in addrs, or addrs[0] if there
// is none: knocks travel over IPv4 only.
func preferIPv4(addrs []netip.Addr) netip.Addr {
	for _, a := range addrs {
		if a.Is4() {
			return a
		}
	}
	return addrs[0]
}
