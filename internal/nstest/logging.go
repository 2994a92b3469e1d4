package nstest

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// logAllNetns is the sysctl that lets LOG rules outside the initial network
// namespace reach the kernel log.
const logAllNetns = "/proc/sys/net/netfilter/nf_log_all_netns"

// loggingDir holds the files through which the test processes that need
// logAllNetns at the same moment (go test runs packages in parallel) agree
// on when to restore it: each user holds a shared flock on "users", so the
// user that can take it exclusively is the only one left. It is under /run,
// which only root may write, not /tmp, where another user could plant it.
const loggingDir = "/run/kk-nstest-nf_log_all_netns"

// EnableLogging sets net.netfilter.nf_log_all_netns to 1, so the LOG rules
// of a test's namespaces reach the kernel log. When the last test that asked
// for it, in any process, ends, the value found by the first is restored.
func EnableLogging(t testing.TB) {
	t.Helper()
	RequireRoot(t)
	if err := os.MkdirAll(loggingDir, 0o700); err != nil {
		t.Fatal(err)
	}
	mu := lockFile(t, "mutex", unix.LOCK_EX)
	defer unix.Close(mu)
	users := openLock(t, "users")
	if unix.Flock(users, unix.LOCK_EX|unix.LOCK_NB) == nil { // the first user
		old, err := os.ReadFile(logAllNetns)
		if err != nil {
			t.Fatalf("reading %s: %v", logAllNetns, err)
		}
		writeFile(t, filepath.Join(loggingDir, "orig"), old)
		writeFile(t, logAllNetns, []byte("1\n"))
	}
	if err := unix.Flock(users, unix.LOCK_SH); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { releaseLogging(t, users) })
}

// releaseLogging drops this user's hold and restores the original value
// if no other user holds on.
func releaseLogging(t testing.TB, users int) {
	mu := lockFile(t, "mutex", unix.LOCK_EX)
	defer unix.Close(mu)
	defer unix.Close(users)
	if unix.Flock(users, unix.LOCK_EX|unix.LOCK_NB) != nil {
		return // another test still needs it
	}
	if old, err := os.ReadFile(filepath.Join(loggingDir, "orig")); err == nil {
		writeFile(t, logAllNetns, old)
	}
}

func openLock(t testing.TB, name string) int {
	t.Helper()
	fd, err := unix.Open(filepath.Join(loggingDir, name), unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	return fd
}

func lockFile(t testing.TB, name string, how int) int {
	t.Helper()
	fd := openLock(t, name)
	if err := unix.Flock(fd, how); err != nil {
		t.Fatal(err)
	}
	return fd
}

func writeFile(t testing.TB, path string, data []byte) {
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Errorf("writing %s: %v", path, err)
	}
}
