package profile

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// The child modes of the test binary: increment the counter of the profile
// in KK_LOCK_CHILD_DIR KK_LOCK_CHILD_N times, or until killed (crashChild),
// or send a client's knocks (reserveChild).
func TestMain(m *testing.M) {
	if os.Getenv("KK_CRASH_CHILD_DIR") != "" {
		crashChild()
	}
	if os.Getenv("KK_RESERVE_CHILD_DIR") != "" {
		reserveChild()
	}
	if dir := os.Getenv("KK_LOCK_CHILD_DIR"); dir != "" {
		n, _ := strconv.Atoi(os.Getenv("KK_LOCK_CHILD_N"))
		p := &Profile{Dir: dir}
		if state := os.Getenv("KK_LOCK_CHILD_STATE"); state != "" {
			var err error
			if p, err = LoadServer(dir, state); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
		for range n {
			if err := p.UpdateCounter(func(c uint64) (uint64, error) { return c + 1, nil }); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestTwoProcessesShareCounter runs two processes that each increment one
// counter 1000 times; without the lock, lost updates leave it short of 2000.
func TestTwoProcessesShareCounter(t *testing.T) {
	dir := copyProfile(t, originalDir, "p")
	runChildren(t, dir, "")
	p := &Profile{Dir: dir}
	if c, err := p.Counter(); err != nil || c != 2000 {
		t.Fatalf("counter = %d, %v; want exactly 2000", c, err)
	}
}

// TestTwoProcessesShareStateCounter: the same for a server profile whose
// counter file says 5 and whose state counter does not exist yet. Both
// processes take it over at once; the lock on the state directory leaves
// exactly 2005 in the state counter and the profile's own file at 5.
func TestTwoProcessesShareStateCounter(t *testing.T) {
	dir, state := serverProfile(t, "5\n")
	runChildren(t, dir, state)
	p, err := LoadServer(dir, state)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := p.Counter(); err != nil || c != 2005 {
		t.Fatalf("state counter = %d, %v; want exactly 2005", c, err)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, CounterFile)); string(data) != "5\n" {
		t.Fatalf("the profile's counter file was written: %q", data)
	}
}

// runChildren runs two child processes that each increment the counter of
// the profile in dir (a server profile if state is set) 1000 times.
func runChildren(t *testing.T, dir, state string) {
	t.Helper()
	var cmds []*exec.Cmd
	for range 2 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "KK_LOCK_CHILD_DIR="+dir, "KK_LOCK_CHILD_N=1000", "KK_LOCK_CHILD_STATE="+state)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("child: %v", err)
		}
	}
}
