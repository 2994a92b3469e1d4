package kernlog

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// exportEntries returns export-format kernel entries with the messages,
// logged at us, us+1, ... microseconds since the epoch.
func exportEntries(us int64, messages ...string) []byte {
	var b strings.Builder
	for i, m := range messages {
		n := us + int64(i)
		fmt.Fprintf(&b, "__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n"+
			"_BOOT_ID=0f1e2d3c4b5a69788796a5b4c3d2e1f0\n_TRANSPORT=kernel\nMESSAGE=%s\n\n",
			n, n, m)
	}
	return []byte(b.String())
}

// journalMessages runs FollowJournal on argv until journalctl exits and
// returns the MESSAGE of each entry it delivered.
func journalMessages(t *testing.T, argv []string, cur *Cursor) []string {
	t.Helper()
	var got []string
	err := FollowJournal(context.Background(), argv, JournalOptions{Resume: cur}, func(l []byte) {
		var e struct{ MESSAGE string }
		if err := json.Unmarshal(l, &e); err != nil {
			t.Errorf("entry %q: %v", l, err)
		}
		got = append(got, e.MESSAGE)
	})
	if err == nil || !strings.Contains(err.Error(), "exited") {
		t.Fatalf("FollowJournal returned %v, want journalctl's exit", err)
	}
	return got
}

// TestFollowJournalResume has the real journalctl read a real journal file
// to its end and exit, as a following journalctl may die; entries are then
// appended, and a FollowJournal given the first one's Cursor must deliver
// exactly those. The last entry read first carries a fake __CURSOR member in
// its MESSAGE, which must not be taken for the entry's cursor.
func TestFollowJournalResume(t *testing.T) {
	requireJournalTools(t)
	const t0 = 1795691000000000
	journal := filepath.Join(t.TempDir(), "kernel.journal")
	writeJournal(t, journal, exportEntries(t0, "one", "two", `three "__CURSOR":"s=0;i=1"`))
	// No -f, so journalctl exits at the end; -n all, so a first start reads
	// everything and a resumed one must drop it.
	argv := []string{"journalctl", "--file=" + journal, "-n", "all", "-o", "json", "--no-pager"}

	var cur Cursor
	got := journalMessages(t, argv, &cur)
	if want := []string{"one", "two", `three "__CURSOR":"s=0;i=1"`}; !slices.Equal(got, want) {
		t.Fatalf("first run delivered %q, want %q", got, want)
	}
	if !strings.HasPrefix(cur.String(), "s=") || strings.Contains(cur.String(), "s=0;") {
		t.Fatalf("recorded cursor %q", cur.String())
	}

	writeJournal(t, journal, exportEntries(t0+3, "four", "five"))
	if got := journalMessages(t, argv, &cur); !slices.Equal(got, []string{"four", "five"}) {
		t.Errorf("resumed run delivered %q, want [four five]", got)
	}
	if got := journalMessages(t, argv, &cur); len(got) != 0 {
		t.Errorf("run resumed at the end delivered %q, want nothing", got)
	}
	// journalctl's own -n 0, as in JournalctlArgs, would show none of the
	// entries written since the last one handled.
	writeJournal(t, journal, exportEntries(t0+5, "six"))
	newOnly := []string{"journalctl", "--file=" + journal, "-n", "0", "-o", "json", "--no-pager"}
	if got := journalMessages(t, newOnly, &cur); !slices.Equal(got, []string{"six"}) {
		t.Errorf("run resumed with -n 0 delivered %q, want [six]", got)
	}
	var fresh Cursor
	if got := journalMessages(t, argv, &fresh); len(got) != 6 {
		t.Errorf("first start with an empty Cursor delivered %q, want all 6", got)
	}
}

// TestFollowJournalResumeBeforeFirstEntry has journalctl exit before it
// delivered an entry, so no cursor was recorded: the next run must still
// deliver the entry logged in between, and not the one logged before the
// first run.
func TestFollowJournalResumeBeforeFirstEntry(t *testing.T) {
	requireJournalTools(t)
	journal := filepath.Join(t.TempDir(), "kernel.journal")
	writeJournal(t, journal, exportEntries(time.Now().Add(-time.Hour).UnixMicro(), "before"))
	argv := []string{"journalctl", "--file=" + journal, "-n", "0", "-o", "json", "--no-pager"}
	var cur Cursor
	if got := journalMessages(t, argv, &cur); len(got) != 0 {
		t.Fatalf("first run with -n 0 delivered %q", got)
	}
	writeJournal(t, journal, exportEntries(time.Now().UnixMicro(), "between"))
	if got := journalMessages(t, argv, &cur); !slices.Equal(got, []string{"between"}) {
		t.Errorf("resumed run delivered %q, want [between]", got)
	}
	if got := journalMessages(t, argv, &cur); len(got) != 0 {
		t.Errorf("run resumed after the cursor delivered %q, want nothing", got)
	}
}

func TestResumeArgs(t *testing.T) {
	const c = "--after-cursor=s=1"
	tests := []struct {
		name string
		argv []string
		want []string
	}{
		{"default", JournalctlArgs, []string{"journalctl", "-k", "-f", "-o", "json", "--no-pager", c}},
		{"all", []string{"journalctl", "-n", "all", "-f"}, []string{"journalctl", "-f", c}},
		{"attached", []string{"journalctl", "-n0", "-f"}, []string{"journalctl", "-f", c}},
		{"long", []string{"journalctl", "--lines=5", "-f"}, []string{"journalctl", "-f", c}},
		{"long separate", []string{"journalctl", "--lines", "+5", "-f"}, []string{"journalctl", "-f", c}},
		{"bare", []string{"journalctl", "-n", "-f", "_TRANSPORT=kernel"}, []string{"journalctl", "-f", "_TRANSPORT=kernel", c}},
		{"none", []string{"journalctl", "-f", "--no-pager"}, []string{"journalctl", "-f", "--no-pager", c}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := resumeArgs(tt.argv, c); !slices.Equal(got, tt.want) {
				t.Errorf("resumeArgs(%q) = %q, want %q", tt.argv, got, tt.want)
			}
		})
	}
}

// TestCursorRecordAllocs checks that recording a cursor reuses its buffer,
// since every journal line records one.
func TestCursorRecordAllocs(t *testing.T) {
	line := []byte(`{"MESSAGE":"x","__CURSOR":"s=d1bb;i=1;b=0f1e;m=3e9;t=6612;x=1c27","_TRANSPORT":"kernel"}`)
	var c Cursor
	c.record(line)
	if allocs := testing.AllocsPerRun(100, func() { c.record(line) }); allocs != 0 {
		t.Errorf("record allocates %v times per line", allocs)
	}
	if c.String() != "s=d1bb;i=1;b=0f1e;m=3e9;t=6612;x=1c27" {
		t.Errorf("recorded %q", c.String())
	}
	c.record([]byte(`{"MESSAGE":"no cursor"}`))
	if c.String() != "s=d1bb;i=1;b=0f1e;m=3e9;t=6612;x=1c27" {
		t.Errorf("a line without a cursor changed it to %q", c.String())
	}
}
