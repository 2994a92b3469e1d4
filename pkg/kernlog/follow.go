package kernlog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
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
	// TooLong, if not nil, is called for each line longer than MaxLine
	// when FollowFile starts dropping it.
	TooLong func()
	// Read, if not nil, is called after the lines of each read from the
	// file (up to 64 KiB of them) have been handed to handle, and after the
	// last line of a replay, so that a caller can keep per-line counts in
	// plain variables and publish them once per read.
	Read func()
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

// MaxLine is the length of the longest line FollowFile hands over, newline
// not counted. A longer line is dropped whole, through its newline: kernel
// lines are far shorter, and handing over the pieces would let a writer
// place a line of its choosing after the cut.
const MaxLine = 64 << 10

// ErrNotRegular is wrapped by the error for a path that names something
// other than a regular file (or a symbolic link to one), such as a device or
// a FIFO: reading one could block or never end.
var ErrNotRegular = errors.New("not a regular file")

const (
	// pollInterval is how often the file is checked without an inotify
	// event, in case events were lost (queue overflow).
	pollInterval = time.Second
)

// FollowFile calls handle with each complete line appended to the file at
// path, without the newline, until ctx is done. handle must not keep line
// after it returns. Lines longer than MaxLine are dropped.
//
// It starts at the end of the file, or at its beginning if the file does not
// exist yet and appears later. A path that names no regular file is waited
// for as if missing (it is never read, and opening it does not block). It is
// woken by inotify on the file's directory and keeps following across
// rotation: when the file is renamed away it reads the old file to its end
// (a logger may write to it until told to reopen) and switches to the new
// file once that has its first line, or switchGrace after it appeared,
// reading it from its start; when the file is truncated in place
// (logrotate's copytruncate) it reads it again from its start. No line is
// read twice; lines are lost only where copytruncate itself loses them
// (written between the copy and the truncate).
//
// FollowFile returns nil when ctx is done or, with ExitAtEOF, at the end of
// the file; otherwise it returns the error that stopped it.
func FollowFile(ctx context.Context, path string, opt FileOptions, handle func(line []byte)) error {
	fl := &follower{path: filepath.Clean(path), handle: handle, tooLong: opt.TooLong, afterRead: opt.Read,
		buf: make([]byte, MaxLine+1)}
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
	if err := fl.start(!opt.FromStart); err != nil && !waitable(err) {
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

// record stores where following stopped in p. A partial line held back, or
// being dropped, is not counted as read, so the next follower reads it whole. If no file was
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
	p.file, p.off = st, fl.off-int64(fl.n)-fl.skip
}

// A follower reads one log path. It is not safe for concurrent use.
type follower struct {
	path      string
	handle    func([]byte)
	tooLong   func()   // may be nil
	afterRead func()   // may be nil
	f         *os.File // nil while the path does not exist
	off       int64    // bytes of f consumed, including the held partial line
	buf       []byte
	n         int      // a partial line is held in buf[:n]
	skip      int64    // bytes of f consumed of a line being dropped; 0 if none
	resume    Position // where to start, used by the first open

	failingSince time.Time // when opening the path started failing
	newSince     time.Time // when a new, still empty file at the path was first seen
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
// the offset reached. It refuses anything but a regular file.
func (fl *follower) openFile(atEnd bool) (*os.File, int64, error) {
	// O_NONBLOCK so that opening a FIFO does not wait for a writer; it does
	// not change how a regular file reads.
	f, err := os.OpenFile(fl.path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	switch {
	case errors.Is(err, fs.ErrPermission):
		return nil, 0, fmt.Errorf("following %s: %w (the user needs read access, e.g. membership of group adm)", fl.path, err)
	case errors.Is(err, syscall.ENXIO): // a socket, or a device without its driver
		return nil, 0, fmt.Errorf("following %s: %w", fl.path, ErrNotRegular)
	case err != nil:
		return nil, 0, fmt.Errorf("following %s: %w", fl.path, err)
	}
	if err := checkOpen(f); err != nil {
		f.Close()
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
// while it does not exist or is no regular file, nor for openGrace after the
// first failure.
func (fl *follower) openFailed(err error) error {
	if waitable(err) {
		return nil // not created yet, or someone has to fix it
	}
	if fl.failingSince.IsZero() {
		fl.failingSince = time.Now()
	}
	if time.Since(fl.failingSince) < openGrace {
		return nil
	}
	return err
}

// waitable reports whether err, from opening the path, is waited out rather
// than stopping the follower: the path does not exist, or is no regular file.
func waitable(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrNotRegular)
}

// checkOpen returns an error wrapping ErrNotRegular unless f is a regular file.
func checkOpen(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	return CheckRegular(fi)
}

// CheckRegular returns nil if fi describes a regular file, and otherwise an
// error wrapping ErrNotRegular that says what it is instead.
func CheckRegular(fi fs.FileInfo) error {
	m := fi.Mode()
	kind := "special file"
	switch {
	case m.IsRegular():
		return nil
	case m.IsDir():
		kind = "directory"
	case m&fs.ModeNamedPipe != 0:
		kind = "FIFO (named pipe)"
	case m&fs.ModeSocket != 0:
		kind = "socket"
	case m&fs.ModeCharDevice != 0:
		kind = "character device"
	case m&fs.ModeDevice != 0:
		kind = "block device"
	}
	return fmt.Errorf("a %s, %w", kind, ErrNotRegular)
}
