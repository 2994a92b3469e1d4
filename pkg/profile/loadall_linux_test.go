package profile

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/kk-project/kk/internal/nstest"
)

// TestLoadAllOnCallingThread: LoadAll reads every profile on the calling
// thread, so a thread that took another identity for itself, as kk-monitor
// check does to read the profiles as the monitor's user, is refused what
// that identity is refused. LoadAllParallel, whose loads run on other
// threads, is the control: with the process's identity (root) it loads the
// profile, which shows the test can tell the two apart.
func TestLoadAllOnCallingThread(t *testing.T) {
	if os.Geteuid() != 0 {
		nstest.Unavailable(t, "taking another identity on one thread (setfsuid) needs root")
	}
	// The other identity may list the profiles directory (both variants
	// list it on the calling thread), but not enter the profile's own
	// directory, which Generate makes 0750 root:root.
	root := t.TempDir()
	profiles := filepath.Join(root, "profiles")
	if _, err := Generate(profiles, "web", 4444); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Dir(root), root, profiles} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	state := filepath.Join(root, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	// asNobody runs load on a thread whose file system uid is 65534; the
	// thread is never unlocked, so it ends with its goroutine.
	asNobody := func(load func(string, string) ([]*Profile, []error)) (int, []error) {
		type result struct {
			n    int
			errs []error
		}
		ch := make(chan result)
		go func() {
			runtime.LockOSThread()
			unix.Setfsuid(65534)
			// setfsuid with an invalid uid changes nothing and returns the
			// thread's file system uid.
			if got, _, _ := unix.RawSyscall(unix.SYS_SETFSUID, 0xffffffff, 0, 0); got != 65534 {
				ch <- result{-1, nil}
				return
			}
			ps, errs := load(profiles, state)
			ch <- result{len(ps), errs}
		}()
		r := <-ch
		if r.n < 0 {
			t.Fatal("setfsuid(65534) did not take")
		}
		return r.n, r.errs
	}
	if n, errs := asNobody(LoadAll); n != 0 || len(errs) == 0 {
		t.Errorf("LoadAll on a thread with fsuid 65534 loaded %d profiles (errors %v), want none: its loads must run on the calling thread", n, errs)
	}
	if n, errs := asNobody(LoadAllParallel); n != 1 {
		t.Errorf("control: LoadAllParallel loaded %d profiles (errors %v), want 1, read on threads with root's identity", n, errs)
	}
}
