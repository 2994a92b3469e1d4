package kernlog

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// stopFollow cancels a collector's FollowFile and waits until it returned,
// so the Position it was given is recorded.
func stopFollow(t *testing.T, c *collector) {
	t.Helper()
	c.stop()
	select {
	case err := <-c.done:
		if err != nil {
			t.Fatalf("FollowFile: %v", err)
		}
		c.done <- err // for the cleanup
	case <-time.After(10 * time.Second):
		t.Fatal("FollowFile did not return after cancel")
	}
}

// TestFollowFileResume stops a follower, changes the file, and checks what a
// follower given the first one's Position reads.
func TestFollowFileResume(t *testing.T) {
	cases := []struct {
		name   string
		change func(t *testing.T, path string) // while no follower runs
		want   []string
	}{
		{"appended: goes on from the offset, with the held partial line whole", func(t *testing.T, path string) {
			appendLines(t, path, "-whole")
			appendLines(t, path, numbered("gap", 3)...)
		}, append([]string{"half-whole"}, numbered("gap", 3)...)},
		{"rotated: the new file from its start", func(t *testing.T, path string) {
			must(t, os.Rename(path, path+".1"))
			appendLines(t, path, numbered("new", 2)...)
		}, numbered("new", 2)},
		{"truncated: from the start", func(t *testing.T, path string) {
			must(t, os.Truncate(path, 0))
			appendLines(t, path, "short")
		}, []string{"short"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kern.log")
			appendLines(t, path, numbered("old", 20)...)
			var pos Position
			c := startFollow(t, path, FileOptions{Resume: &pos})
			n := syncFollower(t, c, path)
			appendLines(t, path, numbered("seen", 5)...)
			c.waitFor(t, n+5)
			writeRaw(t, path, "half") // a partial line when the follower stops
			time.Sleep(50 * time.Millisecond)
			stopFollow(t, c)
			tc.change(t, path)
			c2 := startFollow(t, path, FileOptions{Resume: &pos})
			c2.waitFor(t, len(tc.want))
			time.Sleep(100 * time.Millisecond) // nothing else may come
			if got := c2.snapshot(); !slices.Equal(got, tc.want) {
				t.Fatalf("resumed follower read %q, want %q", got, tc.want)
			}
		})
	}
}

// TestFollowFileFirstStartAtEnd checks that an unrecorded Position keeps
// the first start at the end of the file.
func TestFollowFileFirstStartAtEnd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kern.log")
	appendLines(t, path, numbered("old", 10)...)
	c := startFollow(t, path, FileOptions{Resume: &Position{}})
	n := syncFollower(t, c, path)
	for _, l := range c.waitFor(t, n) {
		if l[:3] == "old" {
			t.Fatalf("read a line written before start: %q", l)
		}
	}
}

func writeRaw(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	must(t, err)
	defer f.Close()
	_, err = f.WriteString(s)
	must(t, err)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
