package syn

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// socket opens a socket closed on exec. macOS has no SOCK_CLOEXEC: the
// fork lock keeps a concurrent exec from inheriting it before
// CloseOnExec.
func socket(domain, typ, proto int) (int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	fd, err := unix.Socket(domain, typ, proto)
	if err == nil {
		unix.CloseOnExec(fd)
	}
	return fd, err
}

func osRelDate() uint32 { return 0 }
