package profile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// MaxFileSize caps every profile file read. The original's files are a few
// dozen bytes; the cap keeps a key pointing at /dev/zero from filling memory.
const MaxFileSize = 4096

// ErrUnsafe marks a profile file that is not a regular file, is a symlink,
// is longer than MaxFileSize, or whose owner or mode lets someone other than
// its owner and the group that must read it read a key or change the
// profile. Such a file is refused, never read.
var ErrUnsafe = errors.New("unsafe profile file")

// A policy says who may own, read and change a profile's files.
type policy int

const (
	// private: a client's profile, the user's alone (0600, owned by the
	// user running kk-client).
	private policy = iota
	// shared: a server's profile, owned by root (or by kk-monitor's own
	// user) and readable by kk-monitor's group only (0640 root:knockknock).
	// The state counter, kk-monitor's own, is held to the same rule.
	shared
)

// readFile reads the profile file at path without following a symlink or
// blocking on a FIFO, and only if it is a regular file that pol allows and
// no longer than MaxFileSize. secret marks a key. Errors name the file and
// what is wrong with it, never its content; a missing file wraps
// fs.ErrNotExist, a refused one ErrUnsafe.
func readFile(path string, pol policy, secret bool) ([]byte, error) {
	// A look before opening names a device node even where opening it is
	// denied (a container's device policy says EPERM). It only words the
	// refusal: the check on the open file below is what keeps it safe.
	if fi, err := os.Lstat(path); err == nil && fi.Mode().Type()&^fs.ModeSymlink != 0 {
		return nil, fmt.Errorf("%s: %w: not a regular file (%s)", path, ErrUnsafe, kind(fi.Mode()))
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("%s: %w: is a symlink; a profile file must be a regular file", path, ErrUnsafe)
	}
	if err != nil {
		return nil, fmt.Errorf("reading profile file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading profile file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w: not a regular file (%s)", path, ErrUnsafe, kind(fi.Mode()))
	}
	if err := checkMode(path, fi, pol, secret); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s: %w: longer than %d bytes", path, ErrUnsafe, MaxFileSize)
	}
	return data, nil
}

// ReadPrivate reads a file that must be the caller's alone, as a client's
// profile files are: a regular file, not a symlink, owned by the caller,
// mode 0600 or stricter, at most MaxFileSize bytes, opened without blocking
// on a FIFO. Errors name the file and the chown or chmod that fixes it, never
// its content; a missing file wraps fs.ErrNotExist.
func ReadPrivate(path string) ([]byte, error) {
	return readFile(path, private, true)
}

func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m.IsDir():
		return "a directory"
	}
	return m.Type().String()
}

// checkMode applies pol to the open file's owner and mode. The ids are the
// calling thread's effective ones, so kk-monitor check, which takes the
// monitor's ids on one thread, judges as the monitor would. Root (a test
// monitor with --allow-root) cannot tell which group must read a key, so
// for root any group will do.
func checkMode(path string, fi fs.FileInfo, pol policy, secret bool) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	perm := fi.Mode().Perm()
	euid, egid := uint32(unix.Geteuid()), uint32(unix.Getegid())
	if pol == private {
		switch {
		case st.Uid != euid:
			return fmt.Errorf("%s: %w: owned by %s, not by you (%s): chown %s %s",
				path, ErrUnsafe, UserName(st.Uid), UserName(euid), UserName(euid), path)
		case perm&0o077 != 0:
			return fmt.Errorf("%s: %w: open to group or others (mode %04o): chmod 600 %s", path, ErrUnsafe, perm, path)
		}
		return nil
	}
	switch {
	case st.Uid != 0 && st.Uid != euid:
		return fmt.Errorf("%s: %w: owned by %s, neither root nor kk-monitor's user %s: chown root %s",
			path, ErrUnsafe, UserName(st.Uid), UserName(euid), path)
	case perm&0o022 != 0:
		return fmt.Errorf("%s: %w: writable by group or others (mode %04o): chmod go-w %s", path, ErrUnsafe, perm, path)
	case secret && perm&0o007 != 0:
		return fmt.Errorf("%s: %w: readable by others (mode %04o): chmod 640 %s", path, ErrUnsafe, perm, path)
	case secret && perm&0o040 != 0 && st.Gid != egid && euid != 0:
		return fmt.Errorf("%s: %w: readable by group %s, not kk-monitor's group %s: chgrp %s %s",
			path, ErrUnsafe, GroupName(st.Gid), GroupName(egid), GroupName(egid), path)
	}
	return nil
}

// UserName returns the name of uid for a message, or the number if it has
// none.
func UserName(uid uint32) string {
	if u, err := user.LookupId(strconv.Itoa(int(uid))); err == nil {
		return u.Username
	}
	return strconv.Itoa(int(uid))
}

// GroupName returns the name of gid for a message, or the number if it has
// none.
func GroupName(gid uint32) string {
	if g, err := user.LookupGroupId(strconv.Itoa(int(gid))); err == nil {
		return g.Name
	}
	return strconv.Itoa(int(gid))
}
