package peercred

import (
	"fmt"
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// maxGroups bounds the supplementary groups read from a peer: the kernel's
// NGROUPS_MAX.
const maxGroups = 65536

// Groups returns the supplementary groups the peer of a unix socket
// connection had when it connected (SO_PEERGROUPS, Linux 4.13 and later).
// Like SO_PEERCRED they are the kernel's record, so the peer cannot change
// them afterwards and there is no race with its pid being reused, as there
// would be reading /proc.
func Groups(conn net.Conn) ([]uint32, error) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("%w: %T is not a socket", ErrNoCred, conn)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("reading peer groups: %w", err)
	}
	var groups []uint32
	var sockErr error
	err = raw.Control(func(fd uintptr) { groups, sockErr = peerGroups(int(fd)) })
	if err == nil {
		err = sockErr
	}
	if err != nil {
		return nil, fmt.Errorf("%w: SO_PEERGROUPS: %v", ErrNoCred, err)
	}
	return groups, nil
}

// peerGroups calls getsockopt(SO_PEERGROUPS), growing the buffer once if the
// kernel says (ERANGE) that the peer has more groups than fit.
func peerGroups(fd int) ([]uint32, error) {
	n := 32
	for {
		buf := make([]uint32, n)
		size := uint32(n * 4)
		_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_PEERGROUPS,
			uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&size)), 0)
		switch {
		case e == unix.ERANGE && int(size/4) > n && size/4 <= maxGroups:
			n = int(size / 4)
		case e != 0:
			return nil, e
		default:
			return buf[:size/4], nil
		}
	}
}
