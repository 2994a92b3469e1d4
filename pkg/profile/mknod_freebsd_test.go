package profile

import "golang.org/x/sys/unix"

// mknod is unix.Mknod, whose device argument is a uint64 on FreeBSD.
func mknod(path string, mode uint32, dev uint64) error {
	return unix.Mknod(path, mode, dev)
}
