package peercred

import "golang.org/x/sys/unix"

// credOption names the socket option Get reads, for errors.
const credOption = "LOCAL_PEERCRED"

// getCred reads the peer's credentials (struct xucred). Its pid, in a union
// only FreeBSD 13 fills, is not exposed by x/sys and stays 0.
func getCred(fd int) (Cred, error) {
	x, err := unix.GetsockoptXucred(fd, unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
	if err != nil {
		return Cred{}, err
	}
	return fromXucred(x)
}
