package profile

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// acceptedServer returns a taken-over server profile whose state counter
// is 5.
func acceptedServer(t *testing.T) *Profile {
	t.Helper()
	dir, state := serverProfile(t, "5\n")
	p, err := LoadServer(dir, state)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.TakeOver(); err != nil {
		t.Fatal(err)
	}
	return p
}

// recordValue describes what the record on disk holds, as a reader after a
// crash would find it.
func recordValue(p *Profile) string {
	data, err := os.ReadFile(p.recordPath())
	if err != nil {
		return "missing"
	}
	if len(data) != recSize {
		return fmt.Sprintf("%d bytes", len(data))
	}
	r, _, ok := decodeRecord(data)
	if !ok {
		return "unreadable"
	}
	return fmt.Sprintf("%d", r.next)
}

// TestRecordWriteOrder checks the steps of Accept on a server: the first
// creates the record whole (temporary file, fsync, rename, directory
// fsync), and every later one overwrites the slot not holding the newest
// value and then fdatasyncs, so the record holds the old value until the
// synced write and Accept returns only after it. Dropping the fdatasync,
// writing the newest slot or creating the record in place each fails here.
func TestRecordWriteOrder(t *testing.T) {
	p := acceptedServer(t)
	r := recordOps(t, p.recordPath())
	if err := p.Accept(9); err != nil {
		t.Fatal(err)
	}
	if len(r.steps) != 5 || !bytes.Contains([]byte(r.steps[1]), []byte("write TMP")) ||
		r.steps[3] != `[counter missing] rename TMP to counter` || r.steps[4] != "[counter "+fmt.Sprintf("%q", mustRead(t, p.recordPath()))+"] sync DIR" {
		t.Fatalf("creating the record took these steps:\n\t%s", joinSteps(r.steps))
	}
	if got := recordValue(p); got != "10" {
		t.Fatalf("after the first Accept the record holds %s, want 10", got)
	}
	for i, want := range []struct{ slot, seq int }{{1, 2}, {0, 3}, {1, 4}} {
		r.steps = nil
		used := uint32(10 + 2*i)
		before := recordValue(p)
		if err := p.Accept(used); err != nil {
			t.Fatal(err)
		}
		wantSteps := []string{
			fmt.Sprintf("write counter slot %d: seq %d next %d", want.slot, want.seq, used+1),
			"datasync counter",
		}
		if len(r.steps) != 2 || !bytes.HasSuffix([]byte(r.steps[0]), []byte(wantSteps[0])) ||
			!bytes.HasSuffix([]byte(r.steps[1]), []byte(wantSteps[1])) {
			t.Fatalf("Accept(%d) took these steps:\n\t%s\nwant:\n\t%s", used, joinSteps(r.steps), joinSteps(wantSteps))
		}
		if got := recordValue(p); got != fmt.Sprint(used+1) {
			t.Fatalf("after Accept(%d) the record holds %s (before: %s)", used, got, before)
		}
	}
	if c, err := p.Counter(); err != nil || c != 15 {
		t.Fatalf("Counter = %d, %v; want 15 (the record's, the state counter file lags)", c, err)
	}
	if text := mustRead(t, p.counterPath()); string(text) != "5\n" {
		t.Fatalf("the state counter file holds %q before SyncCounterFile", text)
	}
	if err := p.SyncCounterFile(); err != nil {
		t.Fatal(err)
	}
	if text := mustRead(t, p.counterPath()); string(text) != "15\n" {
		t.Fatalf("the state counter file holds %q after SyncCounterFile, want 15", text)
	}
}

// TestRecordTornWrite simulates every way a power cut can leave the slot
// being written: not reached, a prefix of the new bytes, the new bytes with
// garbage after, zeros (a sector the disk could not finish) and random
// bytes. Each time the record must read as the value before the write,
// since Accept had not returned and so nothing was opened with the new one;
// and the next Accept must write over the torn slot, not the good one.
func TestRecordTornWrite(t *testing.T) {
	for _, tc := range []struct {
		name string
		tear func(old, new []byte) []byte
	}{
		{"not reached", func(old, new []byte) []byte { return old }},
		{"prefix 1", func(old, new []byte) []byte { return append(append([]byte{}, new[:1]...), old[1:]...) }},
		{"prefix 12", func(old, new []byte) []byte { return append(append([]byte{}, new[:12]...), old[12:]...) }},
		{"prefix 20", func(old, new []byte) []byte { return append(append([]byte{}, new[:20]...), old[20:]...) }},
		{"prefix 23", func(old, new []byte) []byte { return append(append([]byte{}, new[:23]...), old[23:]...) }},
		{"zeros", func(old, new []byte) []byte { return make([]byte, len(old)) }},
		{"random", func(old, new []byte) []byte { return bytes.Repeat([]byte{0x5a, 0xc3, 0x11}, len(old)/3+1)[:len(old)] }},
		{"bit flip", func(old, new []byte) []byte { b := append([]byte{}, new...); b[14] ^= 4; return b }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := acceptedServer(t)
			for _, used := range []uint32{9, 20} { // create, then one in-place write: both slots used
				if err := p.Accept(used); err != nil {
					t.Fatal(err)
				}
			}
			data := mustRead(t, p.recordPath())
			cur, slot, ok := decodeRecord(data)
			if !ok || cur.next != 21 {
				t.Fatalf("record %v ok %v", cur, ok)
			}
			off := slot * recSlot
			torn := tc.tear(data[off:off+recLength], encodeSlot(record{seq: cur.seq + 1, next: 31}))
			copy(data[off:], torn)
			if err := os.WriteFile(p.recordPath(), data, 0o600); err != nil {
				t.Fatal(err)
			}
			if c, err := p.Counter(); err != nil || c != 21 {
				t.Fatalf("after a torn write the counter reads %d, %v; want the previous value 21", c, err)
			}
			if err := p.Accept(20); !errors.Is(err, ErrReplay) {
				t.Fatalf("Accept of the last accepted counter after a torn write: %v, want a replay", err)
			}
			if err := p.Accept(40); err != nil {
				t.Fatal(err)
			}
			if got := recordValue(p); got != "41" {
				t.Fatalf("after the next Accept the record holds %s, want 41", got)
			}
			// The good slot was not the one written: tearing the newest
			// slot now still leaves 41's predecessor, 21, never less.
			data = mustRead(t, p.recordPath())
			_, slot, _ = decodeRecord(data)
			newest := 1 - slot
			copy(data[newest*recSlot:], make([]byte, recLength))
			os.WriteFile(p.recordPath(), data, 0o600)
			if got := recordValue(p); got != "21" {
				t.Fatalf("with the newest slot destroyed the record reads %s, want the one before, 21", got)
			}
		})
	}
}

// TestRecordRefused: a record of the wrong size, with no valid slot, or a
// symlink is an error naming the file, never read as 0 or replaced.
func TestRecordRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spoil func(t *testing.T, path string)
		want  error
	}{
		{"short", func(t *testing.T, path string) { os.Truncate(path, 100) }, ErrCorrupt},
		{"no valid slot", func(t *testing.T, path string) { os.WriteFile(path, make([]byte, recSize), 0o600) }, ErrCorrupt},
		{"symlink", func(t *testing.T, path string) {
			other := filepath.Join(t.TempDir(), "other")
			os.Rename(path, other)
			os.Symlink(other, path)
		}, ErrUnsafe},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := acceptedServer(t)
			if err := p.Accept(9); err != nil {
				t.Fatal(err)
			}
			tc.spoil(t, p.recordPath())
			if _, err := p.Counter(); !errors.Is(err, tc.want) || !bytes.Contains([]byte(err.Error()), []byte(RecordFile)) {
				t.Fatalf("Counter: %v, want %v naming %s", err, tc.want, RecordFile)
			}
			if err := p.Accept(30); !errors.Is(err, tc.want) {
				t.Fatalf("Accept: %v, want %v", err, tc.want)
			}
		})
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func joinSteps(s []string) string {
	var b bytes.Buffer
	for i, l := range s {
		if i > 0 {
			b.WriteString("\n\t")
		}
		b.WriteString(l)
	}
	return b.String()
}

// BenchmarkServerCounter compares what kk-monitor pays to store an accepted
// knock's counter durably: Accept's in-place record write (pwrite,
// fdatasync) against the state counter file's crash-safe replacement
// (temporary file, fsync, rename, directory fsync) that it used before.
// Both take the profile lock and read the counter first. The state
// directory is on the test's temporary directory's file system.
func BenchmarkServerCounter(b *testing.B) {
	for _, bc := range []struct {
		name  string
		store func(p *Profile, used uint32) error
	}{
		{"record", func(p *Profile, used uint32) error { return p.Accept(used) }},
		{"file", func(p *Profile, used uint32) error {
			return p.UpdateCounter(func(uint64) (uint64, error) { return uint64(used) + 1, nil })
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			dir, state := serverProfile(b, "5\n")
			p, err := LoadServer(dir, state)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := p.TakeOver(); err != nil {
				b.Fatal(err)
			}
			used := uint32(10)
			if err := bc.store(p, used); err != nil { // creates the record
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				used++
				if err := bc.store(p, used); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestPrepareRecord: PrepareRecord does nothing before the take-over,
// creates the record with the counter readers see, leaves an existing
// record alone, and the first Accept after it overwrites it in place with
// replays still refused.
func TestPrepareRecord(t *testing.T) {
	dir, state := serverProfile(t, "5\n")
	p, err := LoadServer(dir, state)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.PrepareRecord(); err != nil {
		t.Fatal(err)
	}
	if v := recordValue(p); v != "missing" {
		t.Fatalf("before the take-over the record is %s, want missing", v)
	}
	if _, err := p.TakeOver(); err != nil {
		t.Fatal(err)
	}
	if err := p.PrepareRecord(); err != nil {
		t.Fatal(err)
	}
	if v := recordValue(p); v != "5" {
		t.Fatalf("prepared record holds %s, want 5", v)
	}
	if err := p.Accept(7); err != nil {
		t.Fatal(err)
	}
	if err := p.PrepareRecord(); err != nil {
		t.Fatal(err)
	}
	if v := recordValue(p); v != "8" {
		t.Fatalf("record holds %s after Accept(7) and PrepareRecord, want 8", v)
	}
	if err := p.Accept(6); !errors.Is(err, ErrReplay) {
		t.Fatalf("Accept(6) after Accept(7): %v, want ErrReplay", err)
	}
	if c, err := p.Counter(); err != nil || c != 8 {
		t.Fatalf("Counter() = %d, %v; want 8", c, err)
	}
}
