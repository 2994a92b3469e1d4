package syn

import "golang.org/x/sys/unix"

func socket(domain, typ, proto int) (int, error) {
	return unix.Socket(domain, typ|unix.SOCK_CLOEXEC, proto)
}

// osRelDate returns the running kernel's __FreeBSD_version, such as 1400097,
// or 0 if it cannot be read.
func osRelDate() uint32 {
	v, err := unix.SysctlUint32("kern.osreldate")
	if err != nil {
		return 0
	}
	return v
}
