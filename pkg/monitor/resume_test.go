package monitor

import (
	"os"
	"strings"
	"testing"
)

// TestFollowRestartLosesNoLine makes following the log fail (the path
// becomes a symlink loop, so checking it for rotation fails with ELOOP),
// writes a knock to the same file during Run's pause, and puts the file
// back: the restarted follower must go on where the failed one stopped,
// so the knock opens and no earlier line is read again.
func TestFollowRestartLosesNoLine(t *testing.T) {
	h := newHarness(t)
	p := h.addProfile("web", 4444)
	h.startHelper()
	h.start(h.options())
	h.appendLines(knockLine(p, 0, 22, "192.0.2.10"))
	h.waitFor("first open", func() bool { return h.opens("192.0.2.10", 22) == 1 })

	kept := h.logPath + ".kept"
	must(t, os.Rename(h.logPath, kept))
	must(t, os.Symlink(h.logPath, h.logPath)) // a loop: ELOOP
	h.waitFor("the follow error", func() bool {
		return strings.Contains(h.logs.String(), "following the kernel log failed")
	})
	// Written while no follower runs, then the same file is put back.
	f, err := os.OpenFile(kept, os.O_APPEND|os.O_WRONLY, 0)
	must(t, err)
	_, err = f.WriteString(knockLine(p, 1, 22, "192.0.2.20") + "\n")
	must(t, err)
	must(t, f.Close())
	must(t, os.Rename(kept, h.logPath))

	h.waitFor("open by the knock written during the pause", func() bool { return h.opens("192.0.2.20", 22) == 1 })
	h.settle(p, 2)
	if n := h.opens("192.0.2.10", 22); n != 1 {
		t.Errorf("first knock opened %d times, want 1", n)
	}
	if s := h.m.Stats(); s.Refused != 0 {
		t.Errorf("stats %+v: lines before the failure were read again", s)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
