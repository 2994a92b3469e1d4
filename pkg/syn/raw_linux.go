package syn

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

const noPermission = "CAP_NET_RAW is required to send the knock"

// OpenRaw6 is OpenRaw for IPv6. It needs Linux 4.5 or later, where
// IPV6_HDRINCL lets the sender write the flow label that carries the knock.
func OpenRaw6() (*RawConn, error) {
	fd, err := socket(unix.AF_INET6, unix.SOCK_RAW, unix.IPPROTO_RAW)
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

// CanKnock6 reports whether this system can send IPv6 knocks at all (Linux
// can, from 4.5 on).
const CanKnock6 = true

// CapabilityHint tells the user how to give this program CAP_NET_RAW.
func CapabilityHint() string {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	return fmt.Sprintf("run it as root, or grant the capability once with: sudo setcap cap_net_raw+ep %s", exe)
}

func socket(domain, typ, proto int) (int, error) {
	return unix.Socket(domain, typ|unix.SOCK_CLOEXEC, proto)
}

func osRelDate() uint32 { return 0 }
