package kernlog

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// A collector runs FollowFile in the background and records the lines.
type collector struct {
	mu    sync.Mutex
	lines []string
	done  chan error
	stop  context.CancelFunc
}

func startFollow(t *testing.T, path string, opt FileOptions) *collector {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &collector{done: make(chan error, 1), stop: cancel}
	go func() {
		c.done <- FollowFile(ctx, path, opt, func(l []byte) {
			c.mu.Lock()
			c.lines = append(c.lines, string(l))
			c.mu.Unlock()
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			t.Error("FollowFile did not return after cancel")
		}
	})
	return c
}

func (c *collector) snapshot() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.lines...)
}

// waitFor waits up to 20 s until the collector holds n lines.
func (c *collector) waitFor(t *testing.T, n int) []string {
	t.Helper()
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if l := c.snapshot(); len(l) >= n {
			return l
		}
	}
	t.Fatalf("got %d lines, want %d: %q", len(c.snapshot()), n, c.snapshot())
	return nil
}

// syncFollower appends marker lines until the follower reports one, so the
// test knows it is past its start-up; it returns the lines seen so far.
func syncFollower(t *testing.T, c *collector, path string) int {
	t.Helper()
	for i := 0; i < 400; i++ {
		appendLines(t, path, fmt.Sprintf("marker %d", i))
		time.Sleep(25 * time.Millisecond)
		if n := len(c.snapshot()); n > 0 {
			return n
		}
	}
	t.Fatal("follower never saw a marker line")
	return 0
}

func appendLines(t *testing.T, path string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, l := range lines {
		if _, err := f.WriteString(l + "\n"); err != nil {
			t.Fatal(err)
		}
	}
}

func numbered(prefix string, n int) []string {
	var l []string
	for i := 0; i < n; i++ {
		l = append(l, fmt.Sprintf("%s %d", prefix, i))
	}
	return l
}

// checkTail checks that got ends with exactly want, in order.
func checkTail(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) < len(want) {
		t.Fatalf("got %d lines, want at least %d", len(got), len(want))
	}
	tail := got[len(got)-len(want):]
	for i := range want {
		if tail[i] != want[i] {
			t.Fatalf("line %d: got %q, want %q\nall: %q", i, tail[i], want[i], got)
		}
	}
}

func TestFollowFileStartsAtEnd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kern.log")
	appendLines(t, path, numbered("old", 100)...)
	c := startFollow(t, path, FileOptions{})
	n := syncFollower(t, c, path)
	appendLines(t, path, numbered("new", 50)...)
	got := c.waitFor(t, n+50)
	checkTail(t, got, numbered("new", 50))
	for _, l := range got {
		if l[:3] == "old" {
			t.Fatalf("read a line written before start: %q", l)
		}
	}
}

func TestFollowFileWaitsForFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kern.log")
	c := startFollow(t, path, FileOptions{})
	time.Sleep(100 * time.Millisecond)
	appendLines(t, path, numbered("first", 10)...)
	checkTail(t, c.waitFor(t, 10), numbered("first", 10))
}

func TestFollowFileRenameRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kern.log")
	appendLines(t, path, "old")
	c := startFollow(t, path, FileOptions{})
	n := syncFollower(t, c, path)
	appendLines(t, path, numbered("before", 20)...)
	c.waitFor(t, n+20)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendLines(t, path, numbered("after", 20)...)
	got := c.waitFor(t, n+40)
	checkTail(t, got, append(numbered("before", 20), numbered("after", 20)...))
	time.Sleep(200 * time.Millisecond)
	if len(c.snapshot()) != n+40 {
		t.Fatalf("lines read twice: %q", c.snapshot())
	}
}

// TestFollowFileRenameThenLateWrites rotates as rsyslog and logrotate do: the
// file is renamed, the logger keeps writing to the renamed file until it is
// told to reopen, and only then creates the new file. Nothing may be lost.
func TestFollowFileRenameThenLateWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kern.log")
	appendLines(t, path, "old")
	c := startFollow(t, path, FileOptions{})
	n := syncFollower(t, c, path)
	old, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	for _, l := range numbered("late", 20) {
		old.WriteString(l + "\n")
		time.Sleep(2 * time.Millisecond)
	}
	c.waitFor(t, n+20)
	appendLines(t, path, numbered("new", 20)...)
	got := c.waitFor(t, n+40)
	checkTail(t, got, append(numbered("late", 20), numbered("new", 20)...))
	time.Sleep(200 * time.Millisecond)
	if len(c.snapshot()) != n+40 {
		t.Fatalf("lines read twice: %q", c.snapshot())
	}
}

func TestFollowFileCopyTruncate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kern.log")
	appendLines(t, path, "old")
	c := startFollow(t, path, FileOptions{})
	n := syncFollower(t, c, path)
	appendLines(t, path, numbered("before rotation, a longish line", 20)...)
	c.waitFor(t, n+20)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".1", data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendLines(t, path, numbered("after", 5)...)
	got := c.waitFor(t, n+25)
	checkTail(t, got, append(numbered("before rotation, a longish line", 20), numbered("after", 5)...))
	time.Sleep(200 * time.Millisecond)
	if len(c.snapshot()) != n+25 {
		t.Fatalf("lines read twice: %q", c.snapshot())
	}
}

func TestFollowFilePartialLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kern.log")
	appendLines(t, path, "old")
	c := startFollow(t, path, FileOptions{})
	n := syncFollower(t, c, path)
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString("half of a ")
	time.Sleep(200 * time.Millisecond)
	f.WriteString("line\n")
	checkTail(t, c.waitFor(t, n+1), []string{"half of a line"})
}

func TestFollowFileExitAtEOF(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kern.log")
	appendLines(t, path, numbered("line", 1000)...)
	var got []string
	err := FollowFile(context.Background(), path, FileOptions{FromStart: true, ExitAtEOF: true}, func(l []byte) {
		got = append(got, string(l))
	})
	if err != nil {
		t.Fatal(err)
	}
	checkTail(t, got, numbered("line", 1000))
	if len(got) != 1000 {
		t.Fatalf("got %d lines", len(got))
	}
	err = FollowFile(context.Background(), path+".missing", FileOptions{FromStart: true, ExitAtEOF: true}, func([]byte) {})
	if err == nil {
		t.Fatal("no error for a missing file with ExitAtEOF")
	}
}

// TestFollowFileReadCallback checks that FileOptions.Read follows every
// handed-over line: while following, after lines appended later, and at
// the end of a replay, after a last line without a newline.
func TestFollowFileReadCallback(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kern.log")
	if err := os.WriteFile(path, []byte("a\nb\nc"), 0o644); err != nil {
		t.Fatal(err)
	}
	var handled, atRead []int
	err := FollowFile(context.Background(), path, FileOptions{FromStart: true, ExitAtEOF: true, Read: func() {
		atRead = append(atRead, len(handled))
	}}, func(l []byte) { handled = append(handled, len(l)) })
	if err != nil || len(handled) != 3 || len(atRead) == 0 || atRead[len(atRead)-1] != 3 {
		t.Fatalf("replay: err %v, %d lines, Read called after %v", err, len(handled), atRead)
	}

	var mu sync.Mutex
	var lines, seen int
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- FollowFile(ctx, path, FileOptions{FromStart: true, Read: func() {
			mu.Lock()
			seen = lines
			mu.Unlock()
		}}, func([]byte) { mu.Lock(); lines++; mu.Unlock() })
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("\nd\ne\n"); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		l, s := lines, seen
		mu.Unlock()
		if l == 5 && s == 5 {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("%d lines handed over, Read last called after %d", l, s)
		}
	}
}
