// Package sudo lets kk-client, run with sudo as the original knockknock's
// README says (and as macOS and FreeBSD require for a raw socket), use the
// invoking user's own profile: it finds that user's home and gives root up
// for that user once the raw sockets are open, the way ping does. The
// profile is then read, and its counter written, with the user's rights
// only, so a file the user controls is never opened as root.
package sudo

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// A User is the user who ran the command with sudo.
type User struct {
	UID, GID int
}

// Invoker returns the user who ran this process with sudo: set only when
// the process runs as root and SUDO_UID and SUDO_GID, which sudo sets,
// name a user other than root.
func Invoker() (User, bool) {
	if os.Geteuid() != 0 {
		return User{}, false
	}
	uid, err1 := strconv.Atoi(os.Getenv("SUDO_UID"))
	gid, err2 := strconv.Atoi(os.Getenv("SUDO_GID"))
	if err1 != nil || err2 != nil || uid <= 0 || gid < 0 {
		return User{}, false
	}
	return User{UID: uid, GID: gid}, true
}

// Home returns u's home directory: $HOME when u owns it (macOS's sudo keeps
// HOME), else the one the user database names, else $HOME.
func (u User) Home() (string, error) {
	home := os.Getenv("HOME")
	if home != "" && u.Owns(home) {
		return home, nil
	}
	if pw, err := user.LookupId(strconv.Itoa(u.UID)); err == nil && pw.HomeDir != "" {
		return pw.HomeDir, nil
	}
	if home == "" {
		return "", fmt.Errorf("neither HOME nor the user database names the home of uid %d", u.UID)
	}
	return home, nil
}

// Owns reports whether path (not followed if a symlink) belongs to u.
func (u User) Owns(path string) bool {
	fi, err := os.Lstat(path)
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == u.UID
}

// Become gives root up for u for good: its group alone as the supplementary
// groups, its gid, its uid. Afterwards the process cannot get root back.
func (u User) Become() error {
	if err := syscall.Setgroups([]int{u.GID}); err != nil {
		return fmt.Errorf("giving up root for uid %d: setgroups: %w", u.UID, err)
	}
	if err := syscall.Setgid(u.GID); err != nil {
		return fmt.Errorf("giving up root for uid %d: setgid %d: %w", u.UID, u.GID, err)
	}
	if err := syscall.Setuid(u.UID); err != nil {
		return fmt.Errorf("giving up root for uid %d: setuid: %w", u.UID, err)
	}
	if os.Geteuid() != u.UID || os.Getuid() != u.UID || os.Getegid() != u.GID {
		return fmt.Errorf("giving up root for uid %d: still uid %d/%d gid %d", u.UID, os.Getuid(), os.Geteuid(), os.Getegid())
	}
	return nil
}
