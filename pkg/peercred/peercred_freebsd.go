package peercred

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// credOption names the socket option Get reads, for errors.
const credOption = "LOCAL_PEERCRED"

// getCred reads the peer's credentials (struct xucred). Its pid, in a union
// only FreeBSD 13 fills, is not exposed by x/sys and stays 0.
func getCred(fd int) (Cred, error) {
	x, err := unix.GetsockoptXucred(fd, unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
	if err != nil {
		return Cred{}, err
	}
	if x.Version != xucredVersion || x.Ngroups < 1 {
		return Cred{}, fmt.Errorf("unexpected xucred (version %d, %d groups)", x.Version, x.Ngroups)
	}
	return Cred{UID: x.Uid, GID: x.Groups[0]}, nil
}

// xucredVersion is XUCRED_VERSION of <sys/ucred.h>.
const xucredVersion = 0
