package kernlog

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// forgedTail is kernel-looking text that a writer puts after the cut of an
// over-long line: a REJECT line for a knock port, which ParseSyslog accepts.
func forgedTail(t *testing.T) string {
	t.Helper()
	pkt := Packet{Src: netip.MustParseAddr("198.51.100.9"), DstPort: 4444, ID: 1, Seq: 2, Ack: 3, Window: 4}
	line := FormatSyslog(time.Now(), "kkhost", "REJECT ", pkt)
	if _, v := NewParser("REJECT ", []uint16{4444}).ParseSyslog([]byte(line)); v != Knock {
		t.Fatalf("the forged tail parses as %s, not as a knock: %q", v, line)
	}
	return line
}

// pad returns a user line of exactly n bytes, without a newline.
func pad(n int) string {
	head := "Nov 26 11:00:00 kkhost user: "
	return head + strings.Repeat("x", n-len(head))
}

// TestFollowFileDropsLongLines writes over-long lines whose text after the
// cut is a knock, in one write or with the rest coming in later writes. Only
// lines of at most MaxLine bytes may reach the handler, and each long line
// is reported once.
func TestFollowFileDropsLongLines(t *testing.T) {
	tail := forgedTail(t)
	tests := []struct {
		name    string
		writes  []string // each appended after the follower read the one before
		want    []string
		tooLong int64
	}{
		{"one write", []string{pad(MaxLine) + tail + "\nnormal\n"}, []string{"normal"}, 1},
		{"tail in a later write", []string{pad(MaxLine), tail + "\nnormal\n"}, []string{"normal"}, 1},
		{"newline two writes later", []string{pad(MaxLine + 10), strings.Repeat("y", 3*MaxLine), tail + "\nnormal\n"},
			[]string{"normal"}, 1},
		{"two long lines", []string{pad(MaxLine+1) + "\n" + pad(2*MaxLine) + "\n" + tail + "\n"}, []string{tail}, 2},
		{"exactly MaxLine", []string{pad(MaxLine) + "\nnormal\n"}, []string{pad(MaxLine), "normal"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kern.log")
			appendLines(t, path, "old")
			var tooLong atomic.Int64
			c := startFollow(t, path, FileOptions{TooLong: func() { tooLong.Add(1) }})
			n := syncFollower(t, c, path)
			for _, w := range tt.writes {
				appendRaw(t, path, w)
				time.Sleep(150 * time.Millisecond)
			}
			c.waitFor(t, n+len(tt.want))
			time.Sleep(200 * time.Millisecond)
			if got := c.snapshot()[n:]; fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("handed over %d lines of lengths %v, want %d of lengths %v",
					len(got), lengths(got), len(tt.want), lengths(tt.want))
			}
			if tooLong.Load() != tt.tooLong {
				t.Errorf("TooLong called %d times, want %d", tooLong.Load(), tt.tooLong)
			}
		})
	}
}

// TestFollowFileReplayDropsLongLines: a replay drops long lines too, also a
// last one without a newline.
func TestFollowFileReplayDropsLongLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kern.log")
	appendRaw(t, path, "a\n"+pad(MaxLine)+forgedTail(t)+"\nb\n"+pad(MaxLine+1))
	var got []string
	err := FollowFile(context.Background(), path, FileOptions{FromStart: true, ExitAtEOF: true}, func(l []byte) {
		got = append(got, string(l))
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[a b]" {
		t.Fatalf("got lines of lengths %v, want [a b]", lengths(got))
	}
}

// TestFollowFileResumeInLongLine: a follower stopped while dropping a long
// line records the line's start, so the next one drops it too instead of
// reading its tail as a line.
func TestFollowFileResumeInLongLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kern.log")
	appendLines(t, path, "old")
	var pos Position
	c := startFollow(t, path, FileOptions{Resume: &pos})
	n := syncFollower(t, c, path)
	appendRaw(t, path, pad(MaxLine+10))
	time.Sleep(200 * time.Millisecond)
	c.stop()
	if err := <-c.done; err != nil {
		t.Fatal(err)
	}
	c.done <- nil // for the cleanup
	appendRaw(t, path, forgedTail(t)+"\nnormal\n")
	c2 := startFollow(t, path, FileOptions{Resume: &pos})
	c2.waitFor(t, 1)
	time.Sleep(200 * time.Millisecond)
	if got := c2.snapshot(); fmt.Sprint(got) != "[normal]" || len(c.snapshot()) != n {
		t.Fatalf("after resuming got lines of lengths %v, want [normal]", lengths(got))
	}
}

func appendRaw(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// lengths shows lines by their lengths, and short ones whole.
func lengths(lines []string) []string {
	var l []string
	for _, s := range lines {
		if len(s) > 40 {
			s = fmt.Sprintf("<%d bytes>", len(s))
		}
		l = append(l, s)
	}
	return l
}
