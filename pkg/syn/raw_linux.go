package syn

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// ErrNoCapability means the process may not open a raw socket: it lacks
// CAP_NET_RAW. Errors wrapping it say how to grant the capability.
var ErrNoCapability = errors.New("CAP_NET_RAW is required to send the knock")

// A RawConn is a raw socket of one family with IP_HDRINCL (IPv4) or
// IPV6_HDRINCL (IPv6) set, so the caller writes the IP header itself. It is
// safe for concurrent use.
type RawConn struct {
	fd int
	v6 bool
}

// OpenRaw opens a raw socket for sending knock packets. Without CAP_NET_RAW
// the error wraps ErrNoCapability and names the setcap command that fixes it.
func OpenRaw() (*RawConn, error) {
	// IPPROTO_RAW implies IP_HDRINCL and never receives, so nothing queues up.
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return nil, fmt.Errorf("opening raw socket: %w: %w; %s", err, ErrNoCapability, CapabilityHint())
	}
	if err != nil {
		return nil, fmt.Errorf("opening raw socket: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_HDRINCL, 1); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("setting IP_HDRINCL on raw socket: %w", err)
	}
	return &RawConn{fd: fd}, nil
}

// OpenRaw6 is OpenRaw for IPv6. It needs Linux 4.5 or later, where
// IPV6_HDRINCL lets the sender write the flow label that carries the knock.
func OpenRaw6() (*RawConn, error) {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return nil, fmt.Errorf("opening IPv6 raw socket: %w: %w; %s", err, ErrNoCapability, CapabilityHint())
	}
	if err != nil {
		return nil, fmt.Errorf("opening IPv6 raw socket: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_HDRINCL, 1); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("setting IPV6_HDRINCL on raw socket (needs Linux 4.5 or later): %w", err)
	}
	return &RawConn{fd: fd, v6: true}, nil
}

// OpenRawFor opens the raw socket of dst's family.
func OpenRawFor(dst netip.Addr) (*RawConn, error) {
	if dst.Is6() && !dst.Is4In6() {
		return OpenRaw6()
	}
	return OpenRaw()
}

// CapabilityHint tells the user how to give this program CAP_NET_RAW.
func CapabilityHint() string {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	return fmt.Sprintf("run it as root, or grant the capability once with: sudo setcap cap_net_raw+ep %s", exe)
}

// Send writes one serialized packet to dst.
func (c *RawConn) Send(pkt []byte, dst netip.Addr) error {
	var sa unix.Sockaddr
	switch {
	case c.v6 && dst.Is6() && !dst.Is4In6():
		sa = &unix.SockaddrInet6{Addr: dst.As16(), ZoneId: zoneID(dst)}
	case !c.v6 && dst.Is4():
		sa = &unix.SockaddrInet4{Addr: dst.As4()}
	default:
		return fmt.Errorf("sending knock to %s: the raw socket is of the other address family", dst)
	}
	if err := unix.Sendto(c.fd, pkt, 0, sa); err != nil {
		return fmt.Errorf("sending knock packet to %s: %w", dst, err)
	}
	return nil
}

// Close closes the socket.
func (c *RawConn) Close() error {
	return unix.Close(c.fd)
}

// zoneID returns the interface index of a scoped address such as
// fe80::1%eth0, or 0.
func zoneID(a netip.Addr) uint32 {
	if a.Zone() == "" {
		return 0
	}
	if ifi, err := net.InterfaceByName(a.Zone()); err == nil {
		return uint32(ifi.Index)
	}
	n, _ := strconv.ParseUint(a.Zone(), 10, 32)
	return uint32(n)
}
