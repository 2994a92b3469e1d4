package kernlog

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"
)

// switchGrace bounds how long a rotated file is still read once a new, empty
// file is at the path. With logrotate's create, the new file appears before
// the logger is told to reopen (rsyslog's HUP), and the logger writes to the
// old file until then; its first line in the new file shows it has moved.
const switchGrace = 10 * time.Second

// checkRotation reports whether the path now names another file or the file
// was truncated, and if so moves to the start of the current file.
func (fl *follower) checkRotation() (bool, error) {
	st, err := os.Stat(fl.path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil // renamed away: keep reading the old file until a new one exists
	}
	if err != nil {
		return false, fmt.Errorf("following %s: %w", fl.path, err)
	}
	cur, err := fl.f.Stat()
	if err != nil {
		return false, fmt.Errorf("following %s: %w", fl.path, err)
	}
	switch {
	case !os.SameFile(st, cur):
		if st.Size() == 0 && !fl.newFileWaited() {
			return false, nil // the logger may still write to the old file
		}
		return fl.switchFile()
	case st.Size() < fl.off:
		fl.n, fl.skip = 0, 0 // the held partial line went with the truncation
		if _, err := fl.f.Seek(0, io.SeekStart); err != nil {
			return false, fmt.Errorf("following %s after truncation: %w", fl.path, err)
		}
		fl.off = 0
		return true, nil
	}
	return false, nil
}

// newFileWaited reports whether a new, empty file at the path has been there
// for switchGrace.
func (fl *follower) newFileWaited() bool {
	if fl.newSince.IsZero() {
		fl.newSince = time.Now()
	}
	return time.Since(fl.newSince) >= switchGrace
}

// switchFile moves from the rotated file to the new one at the path. Until
// the new one can be opened, the old one is kept, since the logger may still
// be writing to it.
func (fl *follower) switchFile() (bool, error) {
	f, _, err := fl.openFile(false)
	if err != nil {
		return false, fl.openFailed(err)
	}
	fl.failingSince, fl.newSince = time.Time{}, time.Time{}
	if err := fl.drain(); err != nil { // what was written before the switch
		f.Close()
		return false, err
	}
	fl.flushPartial()
	fl.close()
	fl.f, fl.off, fl.n = f, 0, 0
	return true, nil
}
