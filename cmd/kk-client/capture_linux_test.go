package main

import "golang.org/x/sys/unix"

// openCaptureSocket opens a raw TCP socket that sees every TCP packet the
// namespace receives, with a receive buffer large enough for a burst of
// knocks (SO_RCVBUFFORCE goes past rmem_max; root has the capability).
func openCaptureSocket() (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return -1, err
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 16<<20)
	return fd, nil
}
