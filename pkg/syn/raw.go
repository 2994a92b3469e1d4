package syn

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrNoCapability means the process may not open a raw socket: it lacks
// CAP_NET_RAW on Linux, or is not root on macOS and FreeBSD. Errors
// wrapping it say how to get the permission.
var ErrNoCapability = errors.New(noPermission)

// ErrNoIPv6 means this system cannot send an IPv6 knock: it has no
// IPV6_HDRINCL, so the sender cannot write the flow label that carries the
// knock's ID.
var ErrNoIPv6 = errors.New("this system cannot send IPv6 knocks")

// A RawConn is a raw socket of one family with IP_HDRINCL (IPv4) or
// IPV6_HDRINCL (IPv6) set, so the caller writes the IP header itself. It is
// safe for concurrent use.
type RawConn struct {
	fd     int
	v6     bool
	layout Layout // how the socket wants an IPv4 header
}

// OpenRaw opens an IPv4 raw socket for sending knock packets. Without the
// permission for it the error wraps ErrNoCapability and says how to get it.
func OpenRaw() (*RawConn, error) {
	// IPPROTO_RAW never receives, so nothing queues up on the socket.
	fd, err := socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW)
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return nil, fmt.Errorf("opening raw socket: %w: %w; %s", err, ErrNoCapability, CapabilityHint())
	}
	if err != nil {
		return nil, fmt.Errorf("opening raw socket: %w", err)
	}
	// Linux implies IP_HDRINCL with IPPROTO_RAW; the BSDs want it asked for.
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_HDRINCL, 1); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("setting IP_HDRINCL on raw socket: %w", err)
	}
	return &RawConn{fd: fd, layout: rawLayout}, nil
}

// OpenRawFor opens the raw socket of dst's family.
func OpenRawFor(dst netip.Addr) (*RawConn, error) {
	if dst.Is6() && !dst.Is4In6() {
		return OpenRaw6()
	}
	return OpenRaw()
}

// Layout returns the form in which the socket takes a packet: what
// Packet.AppendRaw is to write for SendRaw.
func (c *RawConn) Layout() Layout {
	if c.v6 {
		return LayoutWire
	}
	return c.layout
}

// Send writes one packet to dst. pkt is in wire format, as Packet.Append
// writes it; Send hands it to the socket in the form the system wants.
func (c *RawConn) Send(pkt []byte, dst netip.Addr) error {
	if c.Layout() != LayoutWire && len(pkt) >= ipHeaderLen {
		pkt = c.layout.fromWire(append([]byte(nil), pkt...))
	}
	return c.SendRaw(pkt, dst)
}

// SendRaw writes one packet, already in the socket's Layout, to dst.
func (c *RawConn) SendRaw(pkt []byte, dst netip.Addr) error {
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

// sudoHint tells the user to run the command line argv again with sudo, as
// the original knockknock's README did: on macOS and FreeBSD only root may
// open a raw socket. argv is quoted for a shell where needed.
func sudoHint(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = shellQuote(a)
	}
	return "only root may open raw sockets here: run it with sudo, as in: sudo " + strings.Join(q, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@%+,[]") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
