package peercred

import "golang.org/x/sys/unix"

// credOption names the socket option Get reads, for errors.
const credOption = "LOCAL_PEERCRED"

// getCred reads the peer's credentials (struct xucred) and, separately,
// its pid (LOCAL_PEERPID, macOS 10.8 and later).
func getCred(fd int) (Cred, error) {
	x, err := unix.GetsockoptXucred(fd, unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
	if err != nil {
		return Cred{}, err
	}
	c, err := fromXucred(x)
	if err != nil {
		return Cred{}, err
	}
	if pid, err := unix.GetsockoptInt(fd, unix.SOL_LOCAL, unix.LOCAL_PEERPID); err == nil {
		c.PID = int32(pid)
	}
	return c, nil
}
