package kernlog

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kk-project/kk/internal/nstest"
)

// A lateWriter appends numbered lines to a log, about one a millisecond,
// and reopens the path only when told, as rsyslog does on its HUP: until
// then it writes to the file it has open, even once that was rotated away.
type lateWriter struct {
	path   string
	reopen chan struct{}
	stop   chan struct{}
	wg     sync.WaitGroup
	n      int // lines written, valid after stop
	err    error
}

func startLateWriter(path string) *lateWriter {
	w := &lateWriter{path: path, reopen: make(chan struct{}), stop: make(chan struct{})}
	w.wg.Add(1)
	go w.run()
	return w
}

func (w *lateWriter) run() {
	defer w.wg.Done()
	f, err := os.OpenFile(w.path, os.O_APPEND|os.O_WRONLY, 0)
	for ; err == nil; time.Sleep(time.Millisecond) {
		select {
		case <-w.stop:
			f.Close()
			return
		case <-w.reopen:
			f.Close()
			f, err = os.OpenFile(w.path, os.O_APPEND|os.O_WRONLY, 0)
			continue
		default:
		}
		w.n++
		_, err = fmt.Fprintf(f, "line %d\n", w.n)
	}
	w.err = err
}

// finish stops the writer and returns how many lines it wrote.
func (w *lateWriter) finish(t *testing.T) int {
	t.Helper()
	close(w.stop)
	w.wg.Wait()
	if w.err != nil {
		t.Fatalf("writer: %v", w.err)
	}
	return w.n
}

// TestFollowFileLogrotateCreate rotates five times with the real logrotate
// in create mode, Debian's default: logrotate renames the log and creates
// an empty one, and the writer goes on writing to the old file for 200 ms
// (until rsyslog's HUP would come) before it reopens the path. Every line
// must arrive once, in order.
func TestFollowFileLogrotateCreate(t *testing.T) {
	logrotate, err := exec.LookPath("logrotate")
	if err != nil {
		if logrotate, err = exec.LookPath("/usr/sbin/logrotate"); err != nil {
			nstest.Unavailable(t, "logrotate is not installed (apt-get install logrotate)")
		}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "kern.log")
	conf := filepath.Join(dir, "logrotate.conf")
	if err := os.WriteFile(conf, []byte(path+" {\n\trotate 10\n\tcreate\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	appendLines(t, path, "old")
	c := startFollow(t, path, FileOptions{})
	skip := syncFollower(t, c, path)
	w := startLateWriter(path)
	for i := 0; i < 5; i++ {
		time.Sleep(300 * time.Millisecond)
		if out, err := exec.Command(logrotate, "-f", "-s", filepath.Join(dir, "state"), conf).CombinedOutput(); err != nil {
			t.Fatalf("logrotate: %v\n%s", err, out)
		}
		time.Sleep(200 * time.Millisecond)
		w.reopen <- struct{}{}
	}
	time.Sleep(300 * time.Millisecond)
	n := w.finish(t)
	for end := time.Now().Add(5 * time.Second); len(c.snapshot()) < skip+n && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	checkNumbered(t, c.snapshot()[skip:], n)
}

// checkNumbered checks that got is exactly "line 1" to "line n".
func checkNumbered(t *testing.T, got []string, n int) {
	t.Helper()
	seen := map[string]int{}
	for _, l := range got {
		seen[l]++
	}
	lost, twice := 0, 0
	for i := 1; i <= n; i++ {
		switch seen[fmt.Sprintf("line %d", i)] {
		case 0:
			lost++
		case 1:
		default:
			twice++
		}
	}
	if lost > 0 || twice > 0 || len(got) != n {
		t.Fatalf("of %d lines written, %d lost and %d read twice; %d read in all", n, lost, twice, len(got))
	}
	checkTail(t, got, numbered("line", n+1)[1:])
}

// TestFollowFileDrainsOldFirst rotates as logrotate's create does, at its
// worst for the follower: the log is renamed and an empty one created, then
// the logger, not yet told to reopen, writes 20 more lines to the old file,
// and only then its first lines to the new one. Every late line must arrive,
// before the first new one: a follower that switches to the new file as soon
// as it appears loses them, and fails here in a fraction of a second.
func TestFollowFileDrainsOldFirst(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kern.log")
	appendLines(t, path, "old")
	c := startFollow(t, path, FileOptions{})
	skip := syncFollower(t, c, path)
	old, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// Each late line is waited for, so that a follower about to switch has
	// done so before the next; once one is missing, the rest are not waited
	// for. The pauses spread them over 100 ms at least, as a logger's until
	// its HUP, so a follower that waits for less than that also fails.
	wait := 200 * time.Millisecond
	late := numbered("late", 20)
	for i, l := range late {
		if _, err := old.WriteString(l + "\n"); err != nil {
			t.Fatal(err)
		}
		if !waitUntil(wait, func() bool { return len(c.snapshot()) > skip+i }) {
			wait = 0
		}
		time.Sleep(5 * time.Millisecond)
	}
	appendLines(t, path, numbered("new", 5)...)
	if !waitUntil(10*time.Second, func() bool { return slices.Contains(c.snapshot(), "new 4") }) {
		t.Fatalf("the new file's lines never arrived: %q", c.snapshot()[skip:])
	}
	if got, want := c.snapshot()[skip:], append(late, numbered("new", 5)...); !slices.Equal(got, want) {
		t.Fatalf("after the rotation the follower read\n\t%q\nwant the old file's late lines first:\n\t%q", got, want)
	}
}

// waitUntil polls cond until it holds or d has passed, and reports whether
// it held.
func waitUntil(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); ; time.Sleep(time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(end) {
			return false
		}
	}
}
