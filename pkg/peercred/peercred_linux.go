package peercred

import "golang.org/x/sys/unix"

// credOption names the socket option Get reads, for errors.
const credOption = "SO_PEERCRED"

func getCred(fd int) (Cred, error) {
	u, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return Cred{}, err
	}
	return Cred{PID: u.Pid, UID: u.Uid, GID: u.Gid}, nil
}
