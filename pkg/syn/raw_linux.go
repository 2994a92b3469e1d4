package syn

import (
	"errors"
	"fmt"
	"net/netip"
	"os"

	"golang.org/x/sys/unix"
)

// ErrNoCapability means the process may not open a raw socket: it lacks
// CAP_NET_RAW. Errors wrapping it say how to grant the capability.
var ErrNoCapability = errors.New("CAP_NET_RAW is required to send the knock")

// A RawConn is an IPv4 raw socket with IP_HDRINCL set, so the caller writes
// the IPv4 header itself. It is safe for concurrent use.
type RawConn struct {
	fd int
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
	if !dst.Is4() {
		return fmt.Errorf("sending knock to %s: only IPv4 is supported", dst)
	}
	sa := &unix.SockaddrInet4{Addr: dst.As4()}
	if err := unix.Sendto(c.fd, pkt, 0, sa); err != nil {
		return fmt.Errorf("sending knock packet to %s: %w", dst, err)
	}
	return nil
}

// Close closes the socket.
func (c *RawConn) Close() error {
	return unix.Close(c.fd)
}
