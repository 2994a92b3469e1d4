//go:build darwin || freebsd

package syn

import "golang.org/x/sys/unix"

// The IANA ephemeral range macOS and FreeBSD use by default, used when the
// sysctls are unreadable.
const (
	defaultPortLow  = 49152
	defaultPortHigh = 65535
)

func portRange() (lo, hi int) {
	first, err1 := unix.SysctlUint32("net.inet.ip.portrange.first")
	last, err2 := unix.SysctlUint32("net.inet.ip.portrange.last")
	if err1 != nil || err2 != nil || first < 1 || last > 65535 || first > last {
		return defaultPortLow, defaultPortHigh
	}
	return int(first), int(last)
}
