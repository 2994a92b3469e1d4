package main

import (
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kk-project/kk/pkg/profile"
)

// TestCrashBeforeCounterFileRefusesReplay kills kk-monitor with SIGKILL
// right after an accepted knock's opening, before it has brought the
// state counter text file up to the counter record (it waits a few seconds
// to coalesce those writes), and checks that nothing is lost: the text
// file is found behind, yet the restarted monitor refuses the same knock
// replayed, and a graceful stop writes the text file up to date.
func TestCrashBeforeCounterFileRefusesReplay(t *testing.T) {
	s := newSetup(t)
	p, err := profile.Generate(s.profiles, "web", 4444)
	must(t, err)
	text := filepath.Join(s.state, "web", profile.CounterFile)
	readText := func() string {
		data, err := os.ReadFile(text)
		must(t, err)
		return string(data)
	}

	cmd, logs := s.start()
	waitUntil(t, "profiles loaded", 30*time.Second, func() bool { return strings.Contains(logs(), "configuration loaded") })
	var counter uint32
	victim := netip.MustParseAddr("192.0.2.1")
	s.knockUntilOpen(p, &counter, victim)
	must(t, cmd.Process.Signal(syscall.SIGKILL))
	cmd.Wait()
	used := counter - 1
	if got := readText(); got != "0\n" {
		t.Fatalf("the state counter file holds %q right after the knock with counter %d: the kill came after its write, so this run tests nothing", got, used)
	}

	cmd, logs = s.start()
	waitUntil(t, "profiles loaded again", 30*time.Second, func() bool { return strings.Contains(logs(), "configuration loaded") })
	// Until the follower is reading: a knock far past the counter window,
	// refused without moving the counter.
	waitUntil(t, "a refusal", 30*time.Second, func() bool {
		s.appendLines(knockLine(p, 1<<30, 22, netip.MustParseAddr("192.0.2.2")))
		time.Sleep(100 * time.Millisecond)
		return strings.Contains(logs(), "knock refused")
	})
	s.appendLines(knockLine(p, used, 22, victim))                   // the captured knock, replayed
	s.knockUntilOpen(p, &counter, netip.MustParseAddr("192.0.2.3")) // read after the replay
	if n := s.opens(victim); n != 1 {
		t.Fatalf("the knock with counter %d opened %d times across the crash, want 1\n%s", used, n, logs())
	}

	must(t, cmd.Process.Signal(syscall.SIGTERM))
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, logs())
	}
	if got, want := readText(), strconv.FormatUint(uint64(counter), 10)+"\n"; got != want {
		t.Errorf("after a graceful stop the state counter file holds %q, want %q (the last accepted counter + 1)", got, want)
	}
}
