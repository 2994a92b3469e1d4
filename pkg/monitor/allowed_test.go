package monitor

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/kk-project/kk/internal/nstest"
	"github.com/kk-project/kk/pkg/firewall"
	"github.com/kk-project/kk/pkg/profile"
)

// addAllowingProfile adds a profile whose config lists allowed_ports.
func (h *harness) addAllowingProfile(name string, port int, allowed ...uint16) *profile.Profile {
	h.t.Helper()
	p, err := profile.GenerateAllowing(h.profilesDir, name, port, -1, allowed)
	if err != nil {
		h.t.Fatal(err)
	}
	if p, err = profile.LoadServer(p.Dir, h.stateDir); err != nil {
		h.t.Fatal(err)
	}
	return p
}

// TestAllowedPortsRefusesOtherPort: an authentic knock for a port outside
// allowed_ports opens nothing, is logged by name, and uses up its counter.
func TestAllowedPortsRefusesOtherPort(t *testing.T) {
	h := newHarness(t)
	p := h.addAllowingProfile("web", 4444, 443, 22)
	h.startHelper()
	h.start(h.options())
	h.appendLines(knockLine(p, 0, 80, "192.0.2.10"))
	h.waitFor("refusal", func() bool { return h.m.Stats().Refused == 1 })
	want := `msg="knock refused" profile=web src=192.0.2.10 reason="port 80 is not in the profile's allowed_ports (22, 443)"`
	if !strings.Contains(h.logs.String(), want) {
		t.Errorf("no log line %s:\n%s", want, h.logs.String())
	}
	if c := h.counter(p); c != 1 {
		t.Errorf("counter on disk %d, want 1: the authentic knock uses its counter", c)
	}
	h.appendLines(knockLine(p, 1, 22, "192.0.2.10"))
	h.waitFor("open of an allowed port", func() bool { return h.opens("192.0.2.10", 22) == 1 })
	if n := h.opens("192.0.2.10", 80); n != 0 {
		t.Fatalf("port 80 opened %d times, want 0", n)
	}
}

// TestAllowedPortsRecoverGap: with allowed_ports, a client 10,000 knocks
// ahead (lost knocks) gets in, and every counter up to the one used, inside
// the wide window a moment ago, is then refused.
func TestAllowedPortsRecoverGap(t *testing.T) {
	h := newHarness(t)
	p := h.addAllowingProfile("web", 4444, 22, 443)
	h.startHelper()
	h.start(h.options())
	const gap = 10000
	line := knockLine(p, gap, 443, "192.0.2.10")
	h.appendLines(line)
	h.waitFor("open after a gap of 10,000", func() bool { return h.opens("192.0.2.10", 443) == 1 })
	if c := h.counter(p); c != gap+1 {
		t.Fatalf("counter on disk %d, want %d", c, gap+1)
	}
	h.appendLines(line, knockLine(p, gap-1, 443, "192.0.2.66"), knockLine(p, 5000, 22, "192.0.2.66"), knockLine(p, 0, 22, "192.0.2.66"))
	h.waitFor("replays refused", func() bool { return h.m.Stats().Refused == 4 })
	h.appendLines(knockLine(p, gap+1, 22, "192.0.2.10"))
	h.waitFor("the next knock", func() bool { return h.opens("192.0.2.10", 22) == 1 })
	if n := h.opens("192.0.2.66", 22) + h.opens("192.0.2.66", 443) + h.opens("192.0.2.10", 443); n != 1 {
		t.Fatalf("%d opens after replays, want the 1 before", n)
	}
}

// A counterCheckingFirewall is a fake firewall whose Open records the
// counter on disk at the moment it is called.
type counterCheckingFirewall struct {
	*firewall.Fake
	prof *profile.Profile

	mu     sync.Mutex
	onDisk []uint64
}

var _ firewall.Manager = (*counterCheckingFirewall)(nil)

func (f *counterCheckingFirewall) Open(ctx context.Context, req firewall.OpenRequest) (firewall.Opening, error) {
	c, err := f.prof.Counter()
	if err != nil {
		return firewall.Opening{}, err
	}
	f.mu.Lock()
	f.onDisk = append(f.onDisk, c)
	f.mu.Unlock()
	return f.Fake.Open(ctx, req)
}

func (f *counterCheckingFirewall) counters() []uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]uint64(nil), f.onDisk...)
}

// TestCounterSavedBeforeOpen: when kk-firewall is asked to open, the used
// counter is already past on disk, so a crash right after cannot let the
// knock be accepted again.
func TestCounterSavedBeforeOpen(t *testing.T) {
	h := newHarness(t)
	p := h.addProfile("web", 4444)
	fw := &counterCheckingFirewall{Fake: h.fake, prof: p}
	opts := h.options()
	opts.Dial = func(string) (firewall.Manager, error) { return fw, nil }
	h.start(opts)
	h.appendLines(knockLine(p, 0, 22, "192.0.2.10"), knockLine(p, 7, 22, "192.0.2.11"))
	h.waitFor("two opens", func() bool { return len(fw.counters()) >= 2 })
	if got := fw.counters(); got[0] != 1 || got[1] != 8 {
		t.Fatalf("counters on disk when Open was called: %v, want [1 8]", got)
	}
}

// TestSaveFailureDoesNotOpen: if the used counter cannot be written, the
// port is not opened; once the disk is writable again the same knock gets
// in, since its counter was never recorded as used.
func TestSaveFailureDoesNotOpen(t *testing.T) {
	h := newHarness(t)
	p := h.addProfile("web", 4444)
	h.startHelper()
	h.start(h.options()) // takes the counter over: the state directory exists
	stateDir := filepath.Join(h.stateDir, p.Name)
	record := filepath.Join(stateDir, profile.RecordFile)
	h.waitFor("the counter record, created at start", func() bool { _, err := os.Stat(record); return err == nil })
	restoreRecord := makeFileReadOnly(t, record)
	restoreDir := makeReadOnly(t, stateDir)
	restore := func() { restoreDir(); restoreRecord() }
	line := knockLine(p, 0, 22, "192.0.2.10")
	h.appendLines(line)
	h.waitFor("the failed write", func() bool {
		return strings.Contains(h.logs.String(), "recording the knock counter failed; port not opened")
	})
	if n := h.opens("192.0.2.10", 22); n != 0 {
		t.Fatalf("%d opens although the counter could not be saved, want 0", n)
	}
	restore()
	h.appendLines(line)
	h.waitFor("open once writable", func() bool { return h.opens("192.0.2.10", 22) == 1 })
	if c := h.counter(p); c != 1 {
		t.Errorf("counter on disk %d, want 1", c)
	}
}

// makeReadOnly makes dir refuse new files, even to root: mode 0500, and for
// root the immutable attribute (chattr +i). It returns a func undoing it,
// also run at cleanup.
func makeReadOnly(t *testing.T, dir string) (restore func()) {
	t.Helper()
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	setImmutable := func(on bool) error { return nil }
	if os.Geteuid() == 0 {
		setImmutable = func(on bool) error { return chattrImmutable(dir, on) }
		if err := setImmutable(true); err != nil {
			os.Chmod(dir, 0o700)
			nstest.Unavailable(t, "chattr +i on "+dir+" failed ("+err.Error()+"): the temporary directory's filesystem needs FS_IMMUTABLE_FL (ext4, xfs, btrfs)")
		}
	}
	restore = func() {
		once.Do(func() {
			if err := setImmutable(false); err != nil {
				t.Errorf("chattr -i %s: %v", dir, err)
			}
			os.Chmod(dir, 0o700)
		})
	}
	t.Cleanup(restore)
	if f, err := os.Create(filepath.Join(dir, "probe")); err == nil {
		f.Close()
		restore()
		t.Fatalf("%s still takes new files", dir)
	}
	return restore
}

// makeFileReadOnly makes the file at path refuse writes, even to root:
// mode 0400, and for root the immutable attribute. It returns a func
// undoing it, also run at cleanup.
func makeFileReadOnly(t *testing.T, path string) (restore func()) {
	t.Helper()
	if err := os.Chmod(path, 0o400); err != nil {
		t.Fatal(err)
	}
	root := os.Geteuid() == 0
	if root {
		if err := chattrImmutable(path, true); err != nil {
			os.Chmod(path, 0o600)
			nstest.Unavailable(t, "chattr +i on "+path+" failed ("+err.Error()+"): the temporary directory's filesystem needs FS_IMMUTABLE_FL (ext4, xfs, btrfs)")
		}
	}
	var once sync.Once
	restore = func() {
		once.Do(func() {
			if root {
				if err := chattrImmutable(path, false); err != nil {
					t.Errorf("chattr -i %s: %v", path, err)
				}
			}
			os.Chmod(path, 0o600)
		})
	}
	t.Cleanup(restore)
	return restore
}

// fsImmutableFL is FS_IMMUTABLE_FL from linux/fs.h, which x/sys/unix lacks.
const fsImmutableFL = 0x10

// chattrImmutable sets or clears the immutable attribute of path.
func chattrImmutable(path string, on bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	flags, err := unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	if err != nil {
		return err
	}
	if on {
		flags |= fsImmutableFL
	} else {
		flags &^= fsImmutableFL
	}
	return unix.IoctlSetPointerInt(int(f.Fd()), unix.FS_IOC_SETFLAGS, int(flags))
}
