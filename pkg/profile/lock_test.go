package profile

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"
)

// The child mode of the test binary: increment the counter of the profile
// in KK_LOCK_CHILD_DIR KK_LOCK_CHILD_N times.
func TestMain(m *testing.M) {
	if dir := os.Getenv("KK_LOCK_CHILD_DIR"); dir != "" {
		n, _ := strconv.Atoi(os.Getenv("KK_LOCK_CHILD_N"))
		p := &Profile{Dir: dir}
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
	var cmds []*exec.Cmd
	for range 2 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "KK_LOCK_CHILD_DIR="+dir, "KK_LOCK_CHILD_N=1000")
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
	p := &Profile{Dir: dir}
	if c, err := p.Counter(); err != nil || c != 2000 {
		t.Fatalf("counter = %d, %v; want exactly 2000", c, err)
	}
}
