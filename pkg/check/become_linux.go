package check

import (
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// do runs fn as the identity when this process is root, so that root never
// reads a file kk-monitor's user controls (a planted symlink then leads
// nowhere that user could not read anyway) and kk-firewall sees that user
// connect. Otherwise fn runs as this process.
//
// Linux keeps credentials per thread; setuid(2) in glibc and Go's
// syscall.Setuid only look process-wide because they signal every thread.
// do changes the credentials of one new, locked thread with raw syscalls,
// and never unlocks it, so the thread exits with fn instead of going back to
// the scheduler as another user. fn must not start goroutines that need the
// identity: they run on other threads.
func (id *identity) do(fn func() error) error {
	if id == nil || os.Geteuid() != 0 {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := id.become(); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// become gives the calling thread the identity's groups, gid and uid, in
// that order: once the uid is not 0 the thread has no capabilities left.
func (id *identity) become() error {
	gids := make([]int, len(id.gids))
	for i, g := range id.gids {
		gids[i] = int(g)
	}
	if err := unix.Setgroups(gids); err != nil { // raw: this thread only
		return fmt.Errorf("taking the groups of %s: %w", id.name, err)
	}
	g, u := uintptr(id.gid), uintptr(id.uid)
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, g, g, g); e != 0 {
		return fmt.Errorf("taking gid %d of %s: %w", id.gid, id.name, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, u, u, u); e != 0 {
		return fmt.Errorf("taking uid %d of %s: %w", id.uid, id.name, e)
	}
	return nil
}
