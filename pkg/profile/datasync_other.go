//go:build !linux

package profile

import "os"

// fdatasync is a full sync where x/sys has no fdatasync (macOS, FreeBSD):
// more than needed, never less. On macOS, Sync is F_FULLFSYNC.
func fdatasync(f *os.File) error {
	return f.Sync()
}
