package monitor

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kk-project/kk/pkg/kernlog"
)

// TestLongLinesWarnRarely: lines longer than kernlog.MaxLine are dropped and
// counted, and warned about at most once a minute however many come.
func TestLongLinesWarnRarely(t *testing.T) {
	h := newHarness(t)
	opts, w := h.watchOptions(h.options())
	w.run(opts)
	h.syncFollower()
	long := strings.Repeat("x", kernlog.MaxLine+1)
	h.appendLines(long, long, long)
	h.waitFor("three dropped lines", func() bool { return h.m.long.n.Load() == 3 })
	warning := fmt.Sprintf("dropped a line longer than %d bytes from %s", kernlog.MaxLine, h.logPath)
	if n := h.count(warning); n != 1 {
		t.Fatalf("warned %d times, want once:\n%s", n, h.logs.String())
	}
	w.clock.advance(longLineEvery)
	h.appendLines(long)
	h.waitFor("a fourth dropped line", func() bool { return h.m.long.n.Load() == 4 })
	if n := h.count(warning + " (4 so far)"); n != 1 {
		t.Fatalf("no warning for the fourth line a minute later:\n%s", h.logs.String())
	}
}
