package monitor

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kk-project/kk/internal/nstest"
)

const journalRemote = "/lib/systemd/systemd-journal-remote"

// appendJournal appends one entry per message to a journal file with the
// real systemd-journal-remote; transport is the entry's _TRANSPORT.
func appendJournal(t *testing.T, journal, transport string, messages ...string) {
	t.Helper()
	if _, err := os.Stat(journalRemote); err != nil {
		nstest.Unavailable(t, journalRemote+" missing: apt-get install systemd-journal-remote")
	}
	var export strings.Builder
	for i, m := range messages {
		now := time.Now().UnixMicro() + int64(i)
		export.WriteString("__REALTIME_TIMESTAMP=" + itoa(now) + "\n__MONOTONIC_TIMESTAMP=" + itoa(now) +
			"\n_BOOT_ID=0f1e2d3c4b5a69788796a5b4c3d2e1f0\n_TRANSPORT=" + transport +
			"\nSYSLOG_IDENTIFIER=kernel\nMESSAGE=" + m + "\n\n")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, journalRemote, "-o", journal, "-")
	cmd.Stdin = strings.NewReader(export.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("systemd-journal-remote: %v\n%s", err, out)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// kernelMessage returns the journal MESSAGE of a knock line: the kernel's
// text without the syslog header.
func kernelMessage(line string) string {
	_, msg, _ := strings.Cut(line, " kernel: ")
	return strings.TrimSpace(msg)
}

// TestJournaldSource follows a real journal file with the real journalctl:
// a knock forged through the syslog transport is refused, a kernel one opens.
func TestJournaldSource(t *testing.T) {
	h := newHarness(t)
	p := h.addProfile("web", 4444)
	h.writeConfig("log_source = journald\n")
	journal := filepath.Join(h.dir, "kernel.journal")
	forged := kernelMessage(knockLine(p, 0, 22, "192.0.2.66"))
	appendJournal(t, journal, "syslog", forged)
	h.startHelper()
	opts := h.options()
	opts.LogFile = "" // keep log_source = journald
	// No -k: the monitor's own _TRANSPORT check must refuse the forgery.
	opts.JournalctlArgs = []string{"journalctl", "--file=" + journal, "-f", "-n", "all", "-o", "json", "--no-pager"}
	m, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	h.m = m
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	h.waitFor("the forged entry to be read", func() bool { return m.Stats().Lines >= 1 })
	appendJournal(t, journal, "kernel", kernelMessage(knockLine(p, 0, 22, "192.0.2.10")))
	h.waitFor("open", func() bool { return h.opens("192.0.2.10", 22) == 1 })
	if n := h.opens("192.0.2.66", 22); n != 0 {
		t.Errorf("forged syslog-transport knock opened %d times", n)
	}
	if c, _ := p.Counter(); c != 1 {
		t.Errorf("counter %d, want 1", c)
	}
}

// TestJournalRestartLosesNoEntry has journalctl exit at the end of a real
// journal file (no -f), as a following journalctl may die, and appends a
// knock while Run pauses: the restarted journalctl must deliver that knock
// and none of the entries read before, although its -n all would show them.
func TestJournalRestartLosesNoEntry(t *testing.T) {
	h := newHarness(t)
	p := h.addProfile("web", 4444)
	h.writeConfig("log_source = journald\n")
	journal := filepath.Join(h.dir, "kernel.journal")
	appendJournal(t, journal, "kernel", kernelMessage(knockLine(p, 0, 22, "192.0.2.10")))
	h.startHelper()
	opts := h.options()
	opts.LogFile = "" // keep log_source = journald
	opts.JournalctlArgs = []string{"journalctl", "--file=" + journal, "-n", "all", "-o", "json", "--no-pager"}
	h.run(opts)
	h.waitFor("first open", func() bool { return h.opens("192.0.2.10", 22) == 1 })
	h.waitFor("journalctl to exit", func() bool {
		return strings.Contains(h.logs.String(), "following the kernel log failed")
	})

	appendJournal(t, journal, "kernel", kernelMessage(knockLine(p, 1, 22, "192.0.2.20")))
	h.waitFor("open by the knock written during the pause", func() bool { return h.opens("192.0.2.20", 22) == 1 })
	// Let a few more restarts happen: each must find nothing new.
	restarts := func() int { return strings.Count(h.logs.String(), "following the kernel log failed") }
	n := restarts()
	h.waitFor("two more restarts", func() bool { return restarts() >= n+2 })
	if s := h.m.Stats(); s.Lines != 2 || s.Refused != 0 || s.Accepted != 2 {
		t.Errorf("stats %+v, want 2 lines, 2 accepted, none refused: entries were read again", s)
	}
	if n := h.opens("192.0.2.10", 22); n != 1 {
		t.Errorf("first knock opened %d times, want 1", n)
	}
}
