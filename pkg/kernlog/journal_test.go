package kernlog

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kk-project/kk/internal/nstest"
)

const journalRemote = "/lib/systemd/systemd-journal-remote"

// requireJournalTools stops t unless journalctl and systemd-journal-remote
// are installed (Debian package systemd-journal-remote). Under CI it fails.
func requireJournalTools(t *testing.T) {
	t.Helper()
	_, err1 := exec.LookPath("journalctl")
	_, err2 := os.Stat(journalRemote)
	if err1 == nil && err2 == nil {
		return
	}
	msg := "journalctl or " + journalRemote + " missing: apt-get install systemd-journal-remote"
	nstest.Unavailable(t, msg)
}

// writeJournal appends the entries of an export-format file to a journal
// file with the real systemd-journal-remote.
func writeJournal(t *testing.T, journal string, export []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, journalRemote, "-o", journal, "-")
	cmd.Stdin = strings.NewReader(string(export))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("systemd-journal-remote: %v\n%s", err, out)
	}
}

// TestFollowJournal has the real journalctl follow a real journal file and
// checks that exactly the kernel-transport knocks are found, including one
// appended while following.
func TestFollowJournal(t *testing.T) {
	requireJournalTools(t)
	export, err := os.ReadFile("testdata/kernel.export")
	if err != nil {
		t.Fatal(err)
	}
	journal := filepath.Join(t.TempDir(), "kernel.journal")
	writeJournal(t, journal, export)

	p := NewParser("REJECT ", testPorts)
	var mu sync.Mutex
	var knocks []Packet
	verdicts := map[Verdict]int{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	argv := []string{"journalctl", "--file=" + journal, "-k", "-f", "-n", "all", "-o", "json", "--no-pager"}
	go func() {
		done <- FollowJournal(ctx, argv, JournalOptions{}, func(l []byte) {
			// journalctl's own output is what scanJournal reads without
			// encoding/json.
			if _, ok := scanJournal(l); !ok {
				t.Errorf("scanJournal leaves journalctl's entry to encoding/json: %q", l)
			}
			pkt, v := p.ParseJournalJSON(l)
			mu.Lock()
			defer mu.Unlock()
			verdicts[v]++
			if v == Knock {
				knocks = append(knocks, pkt)
			}
		})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("FollowJournal: %v", err)
		}
	}()
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(knocks) }
	// The file holds ten knock SYNs; the six that arrived on lo are refused.
	waitCount(t, count, 4)

	// Append one more kernel knock while journalctl follows the file.
	extra := "__REALTIME_TIMESTAMP=1795691000000000\n__MONOTONIC_TIMESTAMP=1000000000\n" +
		"_BOOT_ID=0f1e2d3c4b5a69788796a5b4c3d2e1f0\n_TRANSPORT=kernel\nSYSLOG_IDENTIFIER=kernel\n" +
		"MESSAGE=REJECT IN=eth0 OUT= SRC=192.0.2.7 DST=192.0.2.1 LEN=40 TOS=0x00 PREC=0x00 TTL=64 ID=4242 " +
		"PROTO=TCP SPT=5555 DPT=4444 SEQ=1 ACK=2 WINDOW=3 RES=0x00 SYN URGP=0\n\n"
	writeJournal(t, journal, []byte(extra))
	waitCount(t, count, 5)

	mu.Lock()
	defer mu.Unlock()
	if verdicts[Loopback] != 6 {
		t.Errorf("%d knocks refused as arriving on lo, want 6", verdicts[Loopback])
	}
	if last := knocks[4]; last.Src.String() != "192.0.2.7" || last.ID != 4242 {
		t.Errorf("appended knock parsed as %+v", last)
	}
	// -k shows only kernel-transport entries, so the three forgeries never
	// reach the parser; TestParseJournalJSON covers refusing them.
	if verdicts[NotKernel] != 0 {
		t.Errorf("journalctl -k passed %d non-kernel entries", verdicts[NotKernel])
	}
}

func TestFollowJournalCommandFails(t *testing.T) {
	requireJournalTools(t)
	err := FollowJournal(context.Background(), []string{"journalctl", "--file=/nonexistent/x.journal", "-o", "json", "--no-such-flag"}, JournalOptions{}, func([]byte) {})
	if err == nil || !strings.Contains(err.Error(), "journalctl") {
		t.Fatalf("error %v does not name journalctl", err)
	}
	err = FollowJournal(context.Background(), []string{"/nonexistent/journalctl"}, JournalOptions{}, func([]byte) {})
	if err == nil {
		t.Fatal("no error for a missing command")
	}
}

func waitCount(t *testing.T, count func() int, n int) {
	t.Helper()
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if count() >= n {
			return
		}
	}
	t.Fatalf("found %d knocks, want %d", count(), n)
}
