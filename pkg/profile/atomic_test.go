package profile

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A recordingOps makes the real calls of writeFileAtomic and records each
// one, with what the counter file held just before it, so that a test can
// check the order: the temporary file is written and synced before it
// replaces the counter, and the directory is synced after. A SIGKILL (see
// TestCounterSurvivesSIGKILL) cannot show a missing fsync, since the page
// cache survives the process; only this order can.
type recordingOps struct {
	target string // the counter file being replaced
	tmp    string // the temporary file created, once it is
	steps  []string
}

func (r *recordingOps) record(format string, args ...any) {
	held := "missing"
	if data, err := os.ReadFile(r.target); err == nil {
		held = fmt.Sprintf("%q", data)
	}
	r.steps = append(r.steps, fmt.Sprintf("[counter %s] ", held)+fmt.Sprintf(format, args...))
}

// name shows a path as the test knows it.
func (r *recordingOps) name(path string) string {
	switch path {
	case r.target:
		return "counter"
	case r.tmp:
		return "TMP"
	case filepath.Dir(r.target):
		return "DIR"
	}
	return path
}

func (r *recordingOps) createTemp(dir, pattern string) (*os.File, error) {
	r.record("create in %s", r.name(dir))
	f, err := osFileOps{}.createTemp(dir, pattern)
	if err == nil {
		r.tmp = f.Name()
	}
	return f, err
}

func (r *recordingOps) write(f *os.File, data []byte) error {
	r.record("write %s %q", r.name(f.Name()), data)
	return osFileOps{}.write(f, data)
}

func (r *recordingOps) sync(f *os.File) error {
	data, _ := os.ReadFile(f.Name())
	r.record("sync %s holding %q", r.name(f.Name()), data)
	return osFileOps{}.sync(f)
}

func (r *recordingOps) rename(oldpath, newpath string) error {
	r.record("rename %s to %s", r.name(oldpath), r.name(newpath))
	return osFileOps{}.rename(oldpath, newpath)
}

func (r *recordingOps) syncDir(dir string) error {
	r.record("sync %s", r.name(dir))
	return osFileOps{}.syncDir(dir)
}

func (r *recordingOps) writeAt(f *os.File, data []byte, off int64) error {
	next := "torn"
	if rec, ok := decodeSlot(data); ok {
		next = fmt.Sprintf("seq %d next %d", rec.seq, rec.next)
	}
	r.record("write %s slot %d: %s", r.name(f.Name()), off/recSlot, next)
	return osFileOps{}.writeAt(f, data, off)
}

func (r *recordingOps) datasync(f *os.File) error {
	r.record("datasync %s", r.name(f.Name()))
	return osFileOps{}.datasync(f)
}

// recordOps makes writeFileAtomic record its steps until the test ends.
func recordOps(t *testing.T, target string) *recordingOps {
	r := &recordingOps{target: target}
	atomicOps = r
	t.Cleanup(func() { atomicOps = osFileOps{} })
	return r
}

// TestCounterWriteOrder checks the steps of a counter write, on a client
// and on a server's state counter (created by TakeOver, then updated): the
// counter file holds its old contents, whole, until the synced temporary
// file is renamed over it, and the directory is synced after the rename.
// Dropping either fsync, syncing the directory before the rename, syncing
// the temporary file before writing it, or writing the counter in place
// (os.WriteFile truncates it first) each fails here.
func TestCounterWriteOrder(t *testing.T) {
	steps := func(old, next string) []string {
		return []string{
			"[counter " + old + "] create in DIR",
			"[counter " + old + "] write TMP " + next,
			"[counter " + old + "] sync TMP holding " + next,
			"[counter " + old + "] rename TMP to counter",
			"[counter " + next + "] sync DIR",
		}
	}
	t.Run("client", func(t *testing.T) {
		dir := copyProfile(t, originalDir, "p")
		writeCounter(t, filepath.Join(dir, CounterFile), "5\n")
		p, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		r := recordOps(t, p.counterPath())
		if _, _, err := p.NextKnock(22); err != nil {
			t.Fatal(err)
		}
		checkSteps(t, r.steps, steps(`"5\n"`, `"6\n"`))
	})
	t.Run("server", func(t *testing.T) {
		dir, state := serverProfile(t, "5\n")
		p, err := LoadServer(dir, state)
		if err != nil {
			t.Fatal(err)
		}
		r := recordOps(t, p.counterPath())
		if took, err := p.TakeOver(); err != nil || !took {
			t.Fatalf("TakeOver = %v, %v", took, err)
		}
		checkSteps(t, r.steps, steps("missing", `"5\n"`))
		// Accept writes the record (TestRecordWriteOrder); the state
		// counter follows it by the same steps.
		if err := p.Accept(9); err != nil {
			t.Fatal(err)
		}
		r.steps = nil
		if err := p.SyncCounterFile(); err != nil {
			t.Fatal(err)
		}
		checkSteps(t, r.steps, steps(`"5\n"`, `"10\n"`))
	})
}

func checkSteps(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("the counter write took these steps:\n\t%s\nwant:\n\t%s",
			strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}

func writeCounter(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}
