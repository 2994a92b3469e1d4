package kernlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// FileOptions change how FollowFile reads.
type FileOptions struct {
	// FromStart reads the file from its beginning instead of its end.
	FromStart bool
	// ExitAtEOF stops at the end of the file instead of following it. It is
	// meant for replaying a saved log; the file must exist.
	ExitAtEOF bool
	// Resume, if not nil, carries the place reached from one FollowFile to
	// the next: FollowFile starts there if an earlier call recorded one, and
	// records where it stopped when it returns. See Position.
	Resume *Position
}

// A Position is where FollowFile stopped reading: a file, identified by
// device and inode, and the offset after its last complete line. A later
// FollowFile given it goes on from there if the path still names that file
// and the file was not truncated below the offset, and otherwise (rotated,
// truncated, or no file was open) reads the current file from its start.
//
// The zero value records nothing, so FollowFile starts as FileOptions say.
// A Position is unsafe for concurrent use.
type Position struct {
	recorded bool
	file     os.FileInfo // nil if no file was open
	off      int64
}

const (
	// readBufSize bounds one read and the longest line; a longer line is
	// handed over in pieces, which the parser refuses.
	readBufSize = 64 << 10
	// pollInterval is how often the file is checked without an inotify
	// event, in case events were lost (queue overflow).
	pollInterval = time.Second
)

// FollowFile calls handle with each complete line appended to the file at
// path, without the newline, until ctx is done. handle must not keep line
// after it returns.
//
// It starts at the end of the file, or at its beginning if the file does not
// exist yet and appears later. It is woken by inotify on the file's directory
// and keeps following across rotation: when the file is renamed away it reads
// the old file to its end (a logger may write to it until told to reopen) and
// switches to the new file once one exists, reading that from its start;
// when the file is truncated in place (logrotate's copytruncate) it reads it
// again from its start. No line is read twice; lines are lost only where
// copytruncate itself loses them (written between the copy and the truncate).
//
// FollowFile returns nil when ctx is done or, with ExitAtEOF, at the end of
// the file; otherwise it returns the error that stopped it.
func FollowFile(ctx context.Context, path string, opt FileOptions, handle func(line []byte)) error {
	fl := &follower{path: filepath.Clean(path), handle: handle, buf: make([]byte, readBufSize)}
	defer fl.close()
	if opt.Resume != nil { // recorded before the deferred close
		fl.resume = *opt.Resume
		defer fl.record(opt.Resume)
	}
	if opt.ExitAtEOF {
		return fl.replay()
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("following %s: starting inotify: %w", path, err)
	}
	defer w.Close()
	// Watch the directory before opening, so a file created meanwhile is seen.
	if err := w.Add(filepath.Dir(fl.path)); err != nil {
		return fmt.Errorf("following %s: watching its directory: %w", path, err)
	}
	if err := fl.start(!opt.FromStart); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return fl.loop(ctx, w)
}

// start opens the path where following begins: at the resumed position if
// there is one, else at its end if atEnd.
func (fl *follower) start(atEnd bool) error {
	if fl.resume.recorded {
		return fl.openResumed()
	}
	return fl.open(atEnd)
}

// openResumed opens the path at the resumed position if it still applies,
// and at its start otherwise; the position is used at most once.
func (fl *follower) openResumed() error {
	if err := fl.open(false); err != nil {
		return err
	}
	p := fl.resume
	fl.resume = Position{}
	st, err := fl.f.Stat()
	if err != nil {
		return fmt.Errorf("following %s: %w", fl.path, err)
	}
	if p.file == nil || !os.SameFile(p.file, st) || st.Size() < p.off {
		return nil // rotated or truncated meanwhile: all of it is new
	}
	if _, err := fl.f.Seek(p.off, io.SeekStart); err != nil {
		return fmt.Errorf("following %s: %w", fl.path, err)
	}
	fl.off = p.off
	return nil
}

// record stores where following stopped in p. A partial line held back is
// not counted as read, so the next follower reads it whole. If no file was
// ever opened, p's file is kept, so a file that comes back is still matched.
func (fl *follower) record(p *Position) {
	p.recorded = true
	if fl.f == nil {
		return
	}
	st, err := fl.f.Stat()
	if err != nil {
		p.file, p.off = nil, 0 // unknown: read whatever comes next whole
		return
	}
	p.file, p.off = st, fl.off-int64(fl.n)
}

// A follower reads one log path. It is not safe for concurrent use.
type follower struct {
	path   string
	handle func([]byte)
	f      *os.File // nil while the path does not exist
	off    int64    // bytes of f consumed, including the held partial line
	buf    []byte
	n      int      // a partial line is held in buf[:n]
	resume Position // where to start, used by the first open

	failingSince time.Time // when opening the path started failing
}

// loop waits for changes and reads what they brought.
func (fl *follower) loop(ctx context.Context, w *fsnotify.Watcher) error {
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		if err := fl.catchUp(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return fmt.Errorf("following %s: inotify watcher closed", fl.path)
			}
			if ev.Name != fl.path {
				continue // another file in the directory
			}
		case <-w.Errors:
			// Most likely a queue overflow: events were lost, so just look.
		case <-tick.C:
		}
	}
}

// openFile opens the path, at its end if atEnd, returning the file and
// the offset reached.
func (fl *follower) openFile(atEnd bool) (*os.File, int64, error) {
	f, err := os.Open(fl.path)
	if errors.Is(err, fs.ErrPermission) {
		return nil, 0, fmt.Errorf("following %s: %w (the user needs read access, e.g. membership of group adm)", fl.path, err)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("following %s: %w", fl.path, err)
	}
	var off int64
	if atEnd {
		if off, err = f.Seek(0, io.SeekEnd); err != nil {
			f.Close()
			return nil, 0, fmt.Errorf("following %s: %w", fl.path, err)
		}
	}
	return f, off, nil
}

// open makes the path the file being read, at its end if atEnd.
func (fl *follower) open(atEnd bool) error {
	f, off, err := fl.openFile(atEnd)
	if err != nil {
		return err
	}
	fl.close()
	fl.f, fl.off, fl.n = f, off, 0
	return nil
}

func (fl *follower) close() {
	if fl.f != nil {
		fl.f.Close()
		fl.f = nil
	}
}

// replay reads the file once from its start to its end.
func (fl *follower) replay() error {
	if err := fl.open(false); err != nil {
		return err
	}
	if err := fl.drain(); err != nil {
		return err
	}
	fl.flushPartial()
	return nil
}

// openGrace is how long a file that exists but cannot be opened is waited
// for: rotation tools create the new file first and set its owner and mode
// just after.
const openGrace = 5 * time.Second

// catchUp reads everything new, following a rotation if one happened.
func (fl *follower) catchUp() error {
	if fl.f == nil {
		if err := fl.openResumed(); err != nil {
			return fl.openFailed(err)
		}
		fl.failingSince = time.Time{}
	}
	for {
		if err := fl.drain(); err != nil {
			return err
		}
		rotated, err := fl.checkRotation()
		if err != nil || !rotated {
			return err
		}
	}
}

// openFailed decides whether failing to open the path stops following: not
// while it does not exist, nor for openGrace after the first failure.
func (fl *follower) openFailed(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return nil // not created yet
	}
	if fl.failingSince.IsZero() {
		fl.failingSince = time.Now()
	}
	if time.Since(fl.failingSince) < openGrace {
		return nil
	}
	return err
}

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
		return fl.switchFile()
	case st.Size() < fl.off:
		fl.n = 0 // the held partial line went with the truncation
		if _, err := fl.f.Seek(0, io.SeekStart); err != nil {
			return false, fmt.Errorf("following %s after truncation: %w", fl.path, err)
		}
		fl.off = 0
		return true, nil
	}
	return false, nil
}

// switchFile moves from the rotated file to the new one at the path. Until
// the new one can be opened, the old one is kept, since the logger may still
// be writing to it.
func (fl *follower) switchFile() (bool, error) {
	f, _, err := fl.openFile(false)
	if err != nil {
		return false, fl.openFailed(err)
	}
	fl.failingSince = time.Time{}
	if err := fl.drain(); err != nil { // what was written before the switch
		f.Close()
		return false, err
	}
	fl.flushPartial()
	fl.close()
	fl.f, fl.off, fl.n = f, 0, 0
	return true, nil
}

// drain reads to the current end of the file, handing over complete lines.
func (fl *follower) drain() error {
	for {
		k, err := fl.f.Read(fl.buf[fl.n:])
		fl.off += int64(k)
		fl.deliver(fl.n + k)
		if err == io.EOF || (err == nil && k == 0) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", fl.path, err)
		}
	}
}

// deliver hands over the complete lines in buf[:end] and keeps the rest.
func (fl *follower) deliver(end int) {
	data := fl.buf[:end]
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		fl.handle(data[:i])
		data = data[i+1:]
	}
	if len(data) == len(fl.buf) {
		fl.handle(data) // a line longer than the buffer: hand it over in pieces
		data = data[:0]
	}
	fl.n = copy(fl.buf, data)
}

// flushPartial hands over a last line that has no newline.
func (fl *follower) flushPartial() {
	if fl.n > 0 {
		fl.handle(fl.buf[:fl.n])
		fl.n = 0
	}
}
