// Package lowmem keeps a long-running daemon's resident memory small once it
// has started.
//
// Start-up touches far more of a Go binary than the daemon's steady state
// does: every package's init runs (grpc and protobuf alone register dozens
// of codecs, balancers, resolvers and descriptors), and the kernel maps each
// page fault's neighbours too (fault-around, 64 KiB by default), so most of
// the executable's code and read-only data ends up mapped, about 8 MB of
// kk-monitor's 11 MB at rest. Those pages are clean copies of the file:
// unmapping them loses nothing, and the few the daemon goes on to use are
// mapped again from the page cache on their next access.
package lowmem

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ReleaseStartup returns the memory that start-up used and the daemon does
// not need: the heap's free pages (debug.FreeOSMemory) and the mappings of
// the executable's read-only segments. It returns how many bytes of those
// mappings it released (their size, not what was resident).
//
// Call it once start-up is done, from a daemon that will mostly wait. Only
// read-only private mappings of the executable itself are released; the
// writable data segment, whose pages may differ from the file, is left
// alone.
func ReleaseStartup() (int, error) {
	debug.FreeOSMemory()
	var exe syscall.Stat_t
	if err := syscall.Stat("/proc/self/exe", &exe); err != nil {
		return 0, fmt.Errorf("releasing start-up memory: %w", err)
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0, fmt.Errorf("releasing start-up memory: %w", err)
	}
	released := 0
	for _, r := range readOnlyMappings(maps, unix.Major(exe.Dev), unix.Minor(exe.Dev), exe.Ino) {
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, r.start, r.end-r.start, unix.MADV_DONTNEED); errno != 0 {
			return released, fmt.Errorf("releasing start-up memory: madvise %#x-%#x: %w", r.start, r.end, errno)
		}
		released += int(r.end - r.start)
	}
	return released, nil
}

// A span is an address range [start, end).
type span struct{ start, end uintptr }

// readOnlyMappings returns the private mappings in maps (the text of
// /proc/self/maps) that are neither writable nor shared and map the file
// with the given device and inode. The file is matched by inode, not name:
// an upgrade may have replaced the executable, and the kernel then shows
// its name with " (deleted)".
func readOnlyMappings(maps []byte, major, minor uint32, ino uint64) []span {
	var spans []span
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		// start-end perms offset major:minor inode [path]
		f := bytes.Fields(sc.Bytes())
		if len(f) < 5 {
			continue
		}
		perms := f[1]
		if len(perms) != 4 || perms[0] != 'r' || perms[1] != '-' || perms[3] != 'p' {
			continue
		}
		maj, mnr, ok := bytes.Cut(f[3], []byte(":"))
		if !ok || !hexEquals(maj, uint64(major)) || !hexEquals(mnr, uint64(minor)) {
			continue
		}
		if n, err := strconv.ParseUint(string(f[4]), 10, 64); err != nil || n != ino || n == 0 {
			continue
		}
		lo, hi, ok := bytes.Cut(f[0], []byte("-"))
		start, err1 := strconv.ParseUint(string(lo), 16, 64)
		end, err2 := strconv.ParseUint(string(hi), 16, 64)
		if !ok || err1 != nil || err2 != nil || end <= start {
			continue
		}
		spans = append(spans, span{uintptr(start), uintptr(end)})
	}
	return spans
}

func hexEquals(b []byte, want uint64) bool {
	n, err := strconv.ParseUint(string(b), 16, 32)
	return err == nil && n == want
}

// ReleaseWhenQuiet calls ReleaseStartup again whenever a burst of activity
// has ended, until ctx is done. Serving a request maps code that waiting
// does not need (for kk-monitor, the gRPC client's dial and HTTP/2 paths,
// about 8 MB), so without this a daemon idle after its first request stays
// as large as before ReleaseStartup.
//
// Every period it reads activity(), a count that grows with the work done;
// once the count has changed since the last release and then stays the
// same for a whole period, it releases. A steady stream of work is never
// interrupted by a release, and an idle daemon costs one call per period.
// Errors go to onErr.
func ReleaseWhenQuiet(ctx context.Context, period time.Duration, activity func() uint64, onErr func(error)) {
	t := time.NewTicker(period)
	defer t.Stop()
	releaseWhenQuiet(ctx, t.C, activity, func() {
		if _, err := ReleaseStartup(); err != nil {
			onErr(err)
		}
	})
}

// releaseWhenQuiet is ReleaseWhenQuiet with its clock and its release
// passed in, for tests.
func releaseWhenQuiet(ctx context.Context, tick <-chan time.Time, activity func() uint64, release func()) {
	released := activity()
	last := released
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
		}
		now := activity()
		if now == last && now != released {
			release()
			released = now
		}
		last = now
	}
}
