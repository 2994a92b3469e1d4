package kernlog

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// specialFiles returns paths in dir that name no regular file: a character
// device, a FIFO, a directory and a symbolic link to the device.
func specialFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	fifo, sub, link := filepath.Join(dir, "fifo"), filepath.Join(dir, "dir"), filepath.Join(dir, "link")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", link); err != nil {
		t.Fatal(err)
	}
	return map[string]string{"/dev/zero": "/dev/zero", "FIFO": fifo, "directory": sub, "symlink to /dev/zero": link}
}

// cpuTime returns the CPU time this process has used.
func cpuTime(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestFollowFileRefusesSpecialFiles: a replay of a path that is no regular
// file fails at once with ErrNotRegular, naming the path; a FIFO does not
// block the open.
func TestFollowFileRefusesSpecialFiles(t *testing.T) {
	for name, path := range specialFiles(t, t.TempDir()) {
		t.Run(name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() {
				done <- FollowFile(context.Background(), path, FileOptions{FromStart: true, ExitAtEOF: true}, func([]byte) {})
			}()
			select {
			case err := <-done:
				if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), path) {
					t.Fatalf("got %v, want an error naming %s and wrapping ErrNotRegular", err, path)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("FollowFile hung")
			}
		})
	}
}

// TestFollowFileWaitsOutSpecialFiles: following a path that is no regular
// file uses no CPU to speak of, stops when cancelled, and follows the path
// once it names a regular file.
func TestFollowFileWaitsOutSpecialFiles(t *testing.T) {
	for name, path := range specialFiles(t, t.TempDir()) {
		t.Run(name, func(t *testing.T) {
			cpu := cpuTime(t)
			c := startFollow(t, path, FileOptions{})
			time.Sleep(time.Second)
			if used := cpuTime(t) - cpu; used > 200*time.Millisecond {
				t.Errorf("used %v of CPU in a second", used)
			}
			if name == "/dev/zero" {
				c.stop()
				select {
				case err := <-c.done:
					c.done <- err // for the cleanup
				case <-time.After(2 * time.Second):
					t.Fatal("FollowFile did not return after cancel")
				}
				return
			}
			if err := os.RemoveAll(path); err != nil {
				t.Fatal(err)
			}
			appendLines(t, path, "first")
			checkTail(t, c.waitFor(t, 1), []string{"first"})
		})
	}
}
