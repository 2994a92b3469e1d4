package profile

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// crashKills is how many times TestCounterSurvivesSIGKILL kills a writer.
const crashKills = 150

// crashChild is the child mode of the test binary for
// TestCounterSurvivesSIGKILL: it increments the state counter of the server
// profile in KK_CRASH_CHILD_DIR (state directory KK_CRASH_CHILD_STATE)
// until it is killed, printing each value once UpdateCounter has returned.
func crashChild() {
	p, err := LoadServer(os.Getenv("KK_CRASH_CHILD_DIR"), os.Getenv("KK_CRASH_CHILD_STATE"))
	accept := os.Getenv("KK_CRASH_CHILD_ACCEPT") == "1"
	for err == nil {
		var next uint64
		if accept { // the monitor's path: the record, in place
			if next, err = p.Counter(); err == nil {
				err = p.Accept(uint32(next))
				next++
			}
		} else {
			err = p.UpdateCounter(func(c uint64) (uint64, error) { next = c + 1; return next, nil })
		}
		if err == nil {
			_, err = fmt.Printf("%d\n", next)
		}
	}
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

// TestCounterSurvivesSIGKILL kills a process that keeps incrementing a
// state counter with SIGKILL at random points, crashKills times. After
// each kill the counter file must hold a whole number, the last value the
// child saw written or the one after it (the write in flight), never an
// empty or torn file, and never less than before. Writing the counter in
// place (os.WriteFile truncates first) leaves it empty here. A SIGKILL
// cannot show a missing fsync, since the page cache outlives the process:
// TestCounterWriteOrder checks those.
func TestCounterSurvivesSIGKILL(t *testing.T) {
	dir, state := serverProfile(t, "5\n")
	path := filepath.Join(state, filepath.Base(dir), CounterFile)
	last := uint64(5)
	for i := range crashKills {
		delay := rand.N(4 * time.Millisecond)
		committed := runUntilKilled(t, dir, state, delay, false)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("kill %d after %v: %v", i, delay, err)
		}
		n, err := strconv.ParseUint(strings.TrimSuffix(string(data), "\n"), 10, 64)
		if err != nil || !strings.HasSuffix(string(data), "\n") {
			t.Fatalf("kill %d after %v: the counter file holds %q", i, delay, data)
		}
		if n < last || n < committed || n > committed+1 {
			t.Fatalf("kill %d after %v: counter %d; it was %d, and the child had written %d", i, delay, n, last, committed)
		}
		last = n
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	t.Logf("%d kills, counter from 5 to %d; %d temporary files left behind", crashKills, last, len(entries)-1)
}

// TestRecordSurvivesSIGKILL is TestCounterSurvivesSIGKILL for Accept, which
// writes the record in place: after each kill the counter reads as the last
// value the child saw accepted or the one in flight, never less.
func TestRecordSurvivesSIGKILL(t *testing.T) {
	dir, state := serverProfile(t, "5\n")
	last := uint64(5)
	for i := range crashKills / 2 {
		delay := rand.N(4 * time.Millisecond)
		committed := runUntilKilled(t, dir, state, delay, true)
		p, err := LoadServer(dir, state)
		if err != nil {
			t.Fatalf("kill %d after %v: %v", i, delay, err)
		}
		n, err := p.Counter()
		if err != nil {
			t.Fatalf("kill %d after %v: %v", i, delay, err)
		}
		if n < last || n < committed || n > committed+1 {
			t.Fatalf("kill %d after %v: counter %d; it was %d, and the child had accepted up to %d", i, delay, n, last, committed)
		}
		last = n
	}
	t.Logf("%d kills, counter from 5 to %d", crashKills/2, last)
}

// runUntilKilled starts a crashChild, kills it delay after it has written
// the counter once, and returns the last value it reported written.
func runUntilKilled(t *testing.T, dir, state string, delay time.Duration, accept bool) uint64 {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "KK_CRASH_CHILD_DIR="+dir, "KK_CRASH_CHILD_STATE="+state)
	if accept {
		cmd.Env = append(cmd.Env, "KK_CRASH_CHILD_ACCEPT=1")
	}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	if !lines.Scan() {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the child wrote no counter: %v", lines.Err())
	}
	reported := lines.Text()
	time.Sleep(delay)
	cmd.Process.Kill()
	for lines.Scan() {
		reported = lines.Text()
	}
	cmd.Wait()
	n, err := strconv.ParseUint(reported, 10, 64)
	if err != nil {
		t.Fatalf("the child reported %q", reported)
	}
	return n
}
