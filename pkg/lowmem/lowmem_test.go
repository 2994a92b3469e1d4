package lowmem

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestReadOnlyMappings(t *testing.T) {
	maps := `00400000-008d8000 r-xp 00000000 fd:01 1234 /usr/local/bin/kk-monitor (deleted)
008d8000-00e5d000 r--p 004d8000 fd:01 1234 /usr/local/bin/kk-monitor (deleted)
00e5d000-00ec7000 rw-p 00a5d000 fd:01 1234 /usr/local/bin/kk-monitor (deleted)
00ec7000-00ec8000 ---p 00ac7000 fd:01 1234 /usr/local/bin/kk-monitor (deleted)
00ec8000-00ec9000 r--s 00ac8000 fd:01 1234 /usr/local/bin/kk-monitor (deleted)
00f00000-00f01000 r--p 00000000 fd:02 1234 /other/device/same/inode
00f01000-00f02000 r--p 00000000 fd:01 1235 /same/device/other/inode
7f0000000000-7f0000001000 rw-p 00000000 00:00 0
7ffc55624000-7ffc55645000 rw-p 00000000 00:00 0                          [stack]
garbage line
`
	got := readOnlyMappings([]byte(maps), 0xfd, 1, 1234)
	want := []span{{0x400000, 0x8d8000}, {0x8d8000, 0xe5d000}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("got %x, want %x", got, want)
	}
}

// exeRss returns the resident kB of this test binary's read-only mappings,
// from /proc/self/smaps.
func exeRss(t *testing.T) int {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat("/proc/self/exe", &st); err != nil {
		t.Fatal(err)
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	ours := map[string]bool{}
	for _, s := range readOnlyMappings(maps, unix.Major(st.Dev), unix.Minor(st.Dev), st.Ino) {
		ours[strconv.FormatUint(uint64(s.start), 16)] = true
	}
	if len(ours) == 0 {
		t.Fatalf("no read-only mapping of the executable in\n%s", maps)
	}
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	total, in := 0, false
	sc := bufio.NewScanner(bytes.NewReader(smaps))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 5 && strings.Contains(f[0], "-") {
			start, _, _ := strings.Cut(f[0], "-")
			in = ours[strings.TrimLeft(start, "0")]
			continue
		}
		if in && len(f) == 3 && f[0] == "Rss:" {
			kb, _ := strconv.Atoi(f[1])
			total += kb
		}
	}
	return total
}

// TestReleaseStartup releases this test binary's own code and read-only
// data: what stays resident shrinks, and the program goes on running from
// the same pages, mapped again on use.
func TestReleaseStartup(t *testing.T) {
	before := exeRss(t)
	released, err := ReleaseStartup()
	if err != nil {
		t.Fatal(err)
	}
	after := exeRss(t)
	if released == 0 || after >= before {
		t.Fatalf("released %d bytes of mappings; resident %d kB before, %d kB after", released, before, after)
	}
	t.Logf("released %d KiB of mappings; resident %d kB before, %d kB after", released>>10, before, after)
	// Code and data not used since are mapped again when used.
	if s := strconv.Quote(strings.Repeat("ok", 3)); s != `"okokok"` {
		t.Fatal(s)
	}
}

// TestReleaseWhenQuiet drives the quiet detector tick by tick: it releases
// once per burst of activity, a period after the burst ends, and never
// while the count keeps moving or when nothing happened.
func TestReleaseWhenQuiet(t *testing.T) {
	// The activity count seen at each tick, and whether that tick must
	// release.
	steps := []struct {
		count   uint64
		release bool
	}{
		{0, false}, {0, false}, // idle from the start: nothing to release
		{3, false}, {5, false}, {9, false}, // a burst
		{9, true},              // quiet for a period: release
		{9, false}, {9, false}, // still quiet: released already
		{10, false}, {10, true}, // a single knock, then quiet
		{12, false}, {14, false}, // a steady stream is never interrupted
	}
	ctx, cancel := context.WithCancel(context.Background())
	tick := make(chan time.Time)
	counts := make(chan uint64) // activity() takes each count from the test
	released := make(chan struct{}, len(steps)+2)
	done := make(chan struct{})
	go func() {
		defer close(done)
		releaseWhenQuiet(ctx, tick, func() uint64 { return <-counts }, func() { released <- struct{}{} })
	}()
	check := func(i int) {
		select {
		case <-released:
			if !steps[i].release {
				t.Errorf("step %d (count %d): released", i, steps[i].count)
			}
		default:
			if steps[i].release {
				t.Errorf("step %d (count %d): not released", i, steps[i].count)
			}
		}
	}
	counts <- 0 // the count at start
	for i, s := range steps {
		// The loop takes a tick only once it has decided on the last one.
		tick <- time.Time{}
		if i > 0 {
			check(i - 1)
		}
		counts <- s.count
	}
	tick <- time.Time{}
	check(len(steps) - 1)
	cancel()
	counts <- steps[len(steps)-1].count // let the loop see ctx done
	<-done
}
