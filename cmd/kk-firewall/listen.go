package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/coreos/go-systemd/v22/activation"

	"github.com/kk-project/kk/pkg/fwrpc"
)

// listen returns the socket passed by systemd, or else creates path with
// mode 0660. When the socket is created here, its group becomes the primary
// group of the first allowed user so that user can connect.
func listen(path string, uids []uint32, log *slog.Logger) (net.Listener, error) {
	ls, err := activation.Listeners()
	if err != nil {
		return nil, fmt.Errorf("reading systemd socket activation (LISTEN_FDS): %w", err)
	}
	if len(ls) > 0 {
		return activated(ls)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("--listen %s: creating directory: %w", path, err)
	}
	if err := removeStaleSocket(path); err != nil {
		return nil, err
	}
	old := syscall.Umask(0o117) // no window where the socket is wider than 0660
	l, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("--listen %s: %w", path, err)
	}
	if len(uids) > 0 {
		if err := chgrp(path, uids[0]); err != nil {
			log.Warn("socket keeps root's group; the allowed user may not reach it", "path", path, "err", err)
		}
	}
	return l, nil
}

// activated requires exactly one usable listener from systemd.
func activated(ls []net.Listener) (net.Listener, error) {
	var got []net.Listener
	for _, l := range ls {
		if l != nil {
			got = append(got, l)
		}
	}
	if len(ls) != 1 || len(got) != 1 {
		for _, l := range got {
			l.Close()
		}
		return nil, fmt.Errorf("socket activation passed %d sockets (%d usable); the .socket unit must have exactly one ListenStream", len(ls), len(got))
	}
	return got[0], nil
}

// removeStaleSocket removes a leftover socket file, and refuses to remove
// anything else.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("--listen %s: %w", path, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("--listen %s: exists and is not a socket; remove it or choose another path", path)
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return fmt.Errorf("--listen %s: another process is serving this socket", path)
	}
	return os.Remove(path)
}

func chgrp(path string, uid uint32) error {
	u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10))
	if err != nil {
		return err
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return err
	}
	return os.Lchown(path, 0, gid)
}

// socketGroup returns the group of the socket l listens on, whose members
// the socket's mode lets connect; ok is false if it has no path to examine.
func socketGroup(l net.Listener) (g fwrpc.Group, ok bool, err error) {
	addr, isUnix := l.Addr().(*net.UnixAddr)
	if !isUnix || addr.Name == "" || addr.Name[0] == '@' {
		return fwrpc.Group{}, false, nil
	}
	fi, err := os.Stat(addr.Name)
	if err != nil {
		return fwrpc.Group{}, false, fmt.Errorf("finding the socket's group: %w", err)
	}
	st, isStat := fi.Sys().(*syscall.Stat_t)
	if !isStat {
		return fwrpc.Group{}, false, nil
	}
	g = fwrpc.Group{GID: st.Gid, Name: strconv.FormatUint(uint64(st.Gid), 10)}
	if grp, err := user.LookupGroupId(g.Name); err == nil {
		g.Name = grp.Name
	}
	return g, true, nil
}
