//go:build darwin || freebsd

package peercred

import (
	"fmt"

	"golang.org/x/sys/unix"
)

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
