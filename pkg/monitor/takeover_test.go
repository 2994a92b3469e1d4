package monitor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kk-project/kk/pkg/profile"
)

// originalProfile is a profile exactly as the original knockknock writes it.
var originalProfile = filepath.Join("..", "..", "testdata", "original", "etc", "knockknock.d", "profiles", "clement-laptop")

// addOriginal copies the original's profile into the harness with the given
// counter file, and returns its directory. Its state directory is empty.
func (h *harness) addOriginal(counter string) string {
	h.t.Helper()
	dir := filepath.Join(h.profilesDir, "clement-laptop")
	if err := os.MkdirAll(h.profilesDir, 0o755); err != nil {
		h.t.Fatal(err)
	}
	copyDir(h.t, originalProfile, dir)
	if err := os.WriteFile(filepath.Join(dir, profile.CounterFile), []byte(counter), 0o600); err != nil {
		h.t.Fatal(err)
	}
	return dir
}

// TestTakeOverOriginalCounter: a profile copied from an original install,
// counter 5, no state counter yet. The monitor accepts the knock with
// counter 5, records 6 in its state counter, and never writes the
// profile's own counter file.
func TestTakeOverOriginalCounter(t *testing.T) {
	h := newHarness(t)
	dir := h.addOriginal("5\n")
	seed := filepath.Join(dir, profile.CounterFile)
	before, _ := os.Stat(seed)
	h.startHelper()
	h.start(h.options())
	p, err := profile.LoadServer(dir, h.stateDir)
	if err != nil {
		t.Fatal(err)
	}
	h.appendLines(knockLine(p, 5, 22, "192.0.2.10"))
	h.waitFor("the knock with counter 5 to open", func() bool { return h.opens("192.0.2.10", 22) == 1 })
	// The state counter file follows the counter record once the port is
	// open (profile.RecordFile).
	state := filepath.Join(h.stateDir, "clement-laptop", profile.CounterFile)
	h.waitFor("the state counter file to say 6", func() bool {
		data, err := os.ReadFile(state)
		return err == nil && string(data) == "6\n"
	})
	after, _ := os.Stat(seed)
	if data, _ := os.ReadFile(seed); string(data) != "5\n" || !after.ModTime().Equal(before.ModTime()) {
		t.Fatalf("the profile's counter file was written: %q", data)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != len(profile.Files) {
		t.Fatalf("the monitor left %d entries in the profile directory", len(entries))
	}
	if !strings.Contains(h.logs.String(), "counter taken over") {
		t.Errorf("no log line says the counter was taken over:\n%s", h.logs.String())
	}
}

// TestStateCounterWins: once a state counter exists, the profile's own
// counter file no longer counts, even if it says less.
func TestStateCounterWins(t *testing.T) {
	h := newHarness(t)
	dir := h.addOriginal("5\n")
	if err := os.Mkdir(filepath.Join(h.stateDir, "clement-laptop"), 0o700); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(h.stateDir, "clement-laptop", profile.CounterFile)
	if err := os.WriteFile(state, []byte("9\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.startHelper()
	h.start(h.options())
	p, err := profile.LoadServer(dir, h.stateDir)
	if err != nil {
		t.Fatal(err)
	}
	h.appendLines(knockLine(p, 5, 22, "192.0.2.10"))
	h.appendLines(knockLine(p, 9, 22, "192.0.2.11"))
	h.waitFor("the knock with counter 9 to open", func() bool { return h.opens("192.0.2.11", 22) == 1 })
	h.waitFor("the state counter file to say 10", func() bool {
		data, _ := os.ReadFile(state)
		return string(data) == "10\n"
	})
	if n := h.opens("192.0.2.10", 22); n != 0 {
		t.Fatalf("counter 5, below the state counter 9, opened %d times", n)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, profile.CounterFile)); string(data) != "5\n" {
		t.Fatalf("the profile's counter file was written: %q", data)
	}
}
