package kernlog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/nxadm/tail"
)

// FileOptions change how FollowFile reads.
type FileOptions struct {
	// FromStart reads the file from its beginning instead of its end.
	FromStart bool
	// ExitAtEOF stops at the end of the file instead of following it. It is
	// meant for replaying a saved log.
	ExitAtEOF bool
}

// FollowFile calls handle with each line appended to the file at path, without
// the newline, until ctx is done. It starts at the end of the file, or at its
// beginning if the file does not exist yet and appears later. It keeps
// following when the file is rotated by renaming and recreating it, or by
// copying and truncating it. handle must not keep line after it returns.
//
// Following the same path again in the same process should wait a moment
// after the previous FollowFile returned, since nxadm/tail releases its
// inotify watch asynchronously.
//
// FollowFile returns nil when ctx is done or, with ExitAtEOF, at the end of
// the file; otherwise it returns the error that stopped it.
func FollowFile(ctx context.Context, path string, opt FileOptions, handle func(line []byte)) error {
	t, err := tail.TailFile(path, fileConfig(path, opt))
	if err != nil {
		return fmt.Errorf("following %s: %w", path, err)
	}
	// No t.Cleanup(): the tail's own watcher goroutine removes its inotify
	// watch when the tail stops, and removing it twice corrupts nxadm/tail's
	// shared watch counts, so that a later tail of the same file never
	// hears of changes.
	var buf []byte
	for {
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case l, ok := <-t.Lines:
			if !ok {
				return tailEnd(t, path, opt)
			}
			if l.Err != nil {
				continue // only the rate limiter sets Err, and none is configured
			}
			buf = append(buf[:0], l.Text...)
			handle(buf)
		}
	}
}

// fileConfig returns the tail configuration for opt. A missing file is
// followed from its start once it appears, so no line written to it is lost.
func fileConfig(path string, opt FileOptions) tail.Config {
	cfg := tail.Config{
		Follow:        !opt.ExitAtEOF,
		ReOpen:        !opt.ExitAtEOF,
		MustExist:     opt.ExitAtEOF,
		CompleteLines: true,
		Logger:        tail.DiscardingLogger,
	}
	if _, err := os.Stat(path); err == nil && !opt.FromStart {
		cfg.Location = &tail.SeekInfo{Offset: 0, Whence: io.SeekEnd}
	}
	return cfg
}

// tailEnd reports why the line channel closed.
func tailEnd(t *tail.Tail, path string, opt FileOptions) error {
	err := t.Wait()
	if err == nil && opt.ExitAtEOF {
		return nil
	}
	if err == nil {
		err = errors.New("stopped following")
	}
	return fmt.Errorf("following %s: %w", path, err)
}
