//go:build !freebsd

package profile

import "golang.org/x/sys/unix"

// mknod is unix.Mknod, whose device argument is an int on Linux and macOS.
func mknod(path string, mode uint32, dev uint64) error {
	return unix.Mknod(path, mode, int(dev))
}
