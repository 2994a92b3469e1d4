package profile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUpdateCounterNeverBack: an update function that returns less than the
// stored counter gets an error naming the counter file, and the counter is
// left as it was: on a client, on a server not taken over yet (no state
// counter is created, the seed is only read), and on a server's state
// counter.
func TestUpdateCounterNeverBack(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T) (p *Profile, counter string)
		want  string // the counter file afterwards; "" means none
		seed  string // a server's own counter file, only ever read
	}{
		{"client", func(t *testing.T) (*Profile, string) {
			dir := copyProfile(t, originalDir, "p")
			writeCounter(t, filepath.Join(dir, CounterFile), "10\n")
			p, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			return p, filepath.Join(dir, CounterFile)
		}, "10\n", ""},
		{"server before TakeOver", func(t *testing.T) (*Profile, string) {
			dir, state := serverProfile(t, "10\n")
			p, err := LoadServer(dir, state)
			if err != nil {
				t.Fatal(err)
			}
			return p, p.counterPath()
		}, "", "10\n"},
		{"server state counter", func(t *testing.T) (*Profile, string) {
			dir, state := serverProfile(t, "3\n")
			p, err := LoadServer(dir, state)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Accept(9); err != nil {
				t.Fatal(err)
			}
			return p, p.counterPath()
		}, "10\n", "3\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, counter := tt.setup(t)
			for _, back := range []uint64{9, 0} {
				err := p.UpdateCounter(func(cur uint64) (uint64, error) {
					if cur != 10 {
						t.Errorf("the update function was given %d, want 10", cur)
					}
					return back, nil
				})
				if err == nil || !strings.Contains(err.Error(), counter) || !strings.Contains(err.Error(), "refusing to move the counter back from 10") {
					t.Fatalf("moving the counter back to %d: err = %v", back, err)
				}
				if c, err := p.Counter(); err != nil || c != 10 {
					t.Fatalf("after moving back to %d was refused: counter = %d, %v; want 10", back, c, err)
				}
				data, err := os.ReadFile(counter)
				if tt.want == "" && !os.IsNotExist(err) {
					t.Fatalf("a refused update created %s: %q, %v", counter, data, err)
				}
				if tt.want != "" && string(data) != tt.want {
					t.Fatalf("%s holds %q, want %q", counter, data, tt.want)
				}
			}
			if data, _ := os.ReadFile(p.seed); tt.seed != "" && string(data) != tt.seed {
				t.Fatalf("the seed %s holds %q, want %q", p.seed, data, tt.seed)
			}
		})
	}
}

// TestLeftoverTempFilesRemoved: a writer killed between creating its
// temporary file and renaming it leaves the file behind; the next update,
// under the same lock, removes it and leaves other files alone.
func TestLeftoverTempFilesRemoved(t *testing.T) {
	dir := copyProfile(t, originalDir, "p")
	leftover := filepath.Join(dir, "."+CounterFile+".tmp-123456")
	other := filepath.Join(dir, ".other.tmp-1")
	for _, f := range []string{leftover, other} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.NextKnock(22); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Errorf("leftover %s still there after an update: %v", leftover, err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("%s, not a counter's temporary file, was removed: %v", other, err)
	}
}
