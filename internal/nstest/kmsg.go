package nstest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A Kmsg reads kernel log records from /dev/kmsg, starting at the records
// written after it was opened. Reading does not consume them, so other
// readers (a system logger, another test) still see every record.
type Kmsg struct{ fd int }

// OpenKmsg opens /dev/kmsg at its end; t's cleanup closes it.
func OpenKmsg(t testing.TB) *Kmsg {
	t.Helper()
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("opening /dev/kmsg: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if _, err := unix.Seek(fd, 0, unix.SEEK_END); err != nil {
		t.Fatalf("seeking /dev/kmsg to its end: %v", err)
	}
	return &Kmsg{fd: fd}
}

// Next returns the next record containing substr, waiting for it until ctx
// is done.
func (k *Kmsg) Next(ctx context.Context, substr string) (string, error) {
	buf := make([]byte, 8192)
	for ctx.Err() == nil {
		m, err := unix.Read(k.fd, buf)
		switch {
		case errors.Is(err, unix.EAGAIN):
			time.Sleep(20 * time.Millisecond)
		case errors.Is(err, unix.EPIPE):
			// Records were overwritten before we read them; go on.
		case err != nil:
			return "", fmt.Errorf("reading /dev/kmsg: %w", err)
		case strings.Contains(string(buf[:m]), substr):
			return string(buf[:m]), nil
		}
	}
	return "", ctx.Err()
}

// Collect returns the records containing substr, reading until it has n of
// them or timeout passes.
func (k *Kmsg) Collect(t testing.TB, substr string, n int, timeout time.Duration) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var found []string
	for len(found) < n {
		rec, err := k.Next(ctx, substr)
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		found = append(found, rec)
	}
	return found
}
