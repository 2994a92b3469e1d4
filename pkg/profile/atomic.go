package profile

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// writeFileAtomic replaces path with data so that a crash at any moment
// leaves either the old or the new contents: it writes a temporary file in
// the same directory, syncs it, renames it over path and syncs the
// directory. The new file keeps the old one's owner when the caller may set
// it, so a root process touching a profile does not lock its unprivileged
// owner out.
//
// The caller holds the profile's exclusive lock, so a temporary file already
// beside path belongs to a writer that died mid-write: it is removed first.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	removeLeftovers(dir, "."+filepath.Base(path)+".tmp-")
	tmp, err := atomicOps.createTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			os.Remove(tmp.Name())
		}
	}()
	if err = atomicOps.write(tmp, data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", tmp.Name(), err)
	}
	keepOwner(tmp, path)
	if err = atomicOps.sync(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("syncing %s: %w", tmp.Name(), err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", tmp.Name(), err)
	}
	if err = atomicOps.rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replacing %s: %w", path, err)
	}
	return atomicOps.syncDir(dir)
}

// fileOps are the steps of writeFileAtomic whose order makes it crash-safe.
// They go through atomicOps only so that a test can record that order
// (a SIGKILL cannot show a missing fsync; only a power cut can): production
// never replaces osFileOps, and the methods do nothing but the call named.
type fileOps interface {
	createTemp(dir, pattern string) (*os.File, error)
	write(f *os.File, data []byte) error
	sync(f *os.File) error
	rename(oldpath, newpath string) error
	syncDir(dir string) error
	// writeAt and datasync are the in-place steps of a record write.
	writeAt(f *os.File, data []byte, off int64) error
	datasync(f *os.File) error
}

var atomicOps fileOps = osFileOps{}

// osFileOps are the real calls.
type osFileOps struct{}

func (osFileOps) createTemp(dir, pattern string) (*os.File, error) {
	return os.CreateTemp(dir, pattern)
}

func (osFileOps) write(f *os.File, data []byte) error {
	_, err := f.Write(data)
	return err
}

func (osFileOps) sync(f *os.File) error                { return f.Sync() }
func (osFileOps) rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }
func (osFileOps) syncDir(dir string) error             { return syncDir(dir) }

func (osFileOps) writeAt(f *os.File, data []byte, off int64) error {
	_, err := f.WriteAt(data, off)
	return err
}

func (osFileOps) datasync(f *os.File) error { return fdatasync(f) }

func keepOwner(tmp *os.File, path string) {
	if os.Geteuid() != 0 {
		return
	}
	if fi, err := os.Lstat(path); err == nil && fi.Mode().IsRegular() {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			tmp.Chown(int(st.Uid), int(st.Gid))
		}
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}

// removeLeftovers deletes the entries of dir whose names start with prefix,
// the temporary files of writers killed between create and rename. Errors
// are ignored: a leftover is harmless, only untidy.
func removeLeftovers(dir, prefix string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}
