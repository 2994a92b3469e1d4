package peercred

import (
	"fmt"

	"golang.org/x/sys/unix"
)

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

// fromXucred checks x's version and takes the uid and the effective gid,
// the first of its groups.
func fromXucred(x *unix.Xucred) (Cred, error) {
	if x.Version != xucredVersion || x.Ngroups < 1 {
		return Cred{}, fmt.Errorf("unexpected xucred (version %d, %d groups)", x.Version, x.Ngroups)
	}
	return Cred{UID: x.Uid, GID: x.Groups[0]}, nil
}

// xucredVersion is XUCRED_VERSION of <sys/ucred.h>.
const xucredVersion = 0
