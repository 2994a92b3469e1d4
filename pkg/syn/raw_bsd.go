//go:build darwin || freebsd

package syn

import (
	"fmt"
	"os"
	"runtime"
)

const noPermission = "root is required to open the raw socket that sends the knock"

// OpenRaw6 fails with ErrNoIPv6: macOS and FreeBSD have no IPV6_HDRINCL. A
// raw IPv6 socket there always writes the IPv6 header itself (RFC 3542
// section 3), and takes its flow label from the socket, not per packet, so
// the knock's ID cannot travel in it.
func OpenRaw6() (*RawConn, error) {
	return nil, fmt.Errorf("opening IPv6 raw socket: %w: %s has no IPV6_HDRINCL to write the flow label the knock's ID travels in; knock the server's IPv4 address (-4)",
		ErrNoIPv6, osName())
}

// CanKnock6 reports whether this system can send IPv6 knocks at all.
const CanKnock6 = false

// CapabilityHint tells the user to run the command again with sudo.
func CapabilityHint() string {
	return sudoHint(os.Args)
}

func osName() string {
	if runtime.GOOS == "darwin" {
		return "macOS"
	}
	return "FreeBSD"
}
