// Package peercred identifies the process at the other end of a unix socket
// as the kernel saw it: SO_PEERCRED on Linux, LOCAL_PEERCRED on macOS and
// FreeBSD. It depends on nothing but the system call, so kk-client's
// proxy uses it without gRPC; kk-firewall's gRPC credentials and allowlist,
// built on it, live in pkg/fwrpc.
package peercred

import (
	"errors"
	"fmt"
	"net"
	"os/user"
	"strconv"
	"syscall"
)

// ErrNoCred means a connection carries no peer credentials, for example
// because it is not a unix socket.
var ErrNoCred = errors.New("no peer credentials")

// A Cred is the identity of the process that connected, as the kernel saw it
// when it called connect. PID is 0 where the system does not report it
// (FreeBSD).
type Cred struct {
	PID int32
	UID uint32
	GID uint32
}

// String formats c for logs.
func (c Cred) String() string {
	return fmt.Sprintf("uid=%d gid=%d pid=%d", c.UID, c.GID, c.PID)
}

// Get reads the peer credentials of a unix socket connection.
func Get(conn net.Conn) (Cred, error) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return Cred{}, fmt.Errorf("%w: %T is not a socket", ErrNoCred, conn)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return Cred{}, fmt.Errorf("reading peer credentials: %w", err)
	}
	var c Cred
	var sockErr error
	err = raw.Control(func(fd uintptr) {
		c, sockErr = getCred(int(fd))
	})
	if err == nil {
		err = sockErr
	}
	if err != nil {
		return Cred{}, fmt.Errorf("%w: %s: %v", ErrNoCred, credOption, err)
	}
	return c, nil
}

// LookupUID resolves a user name or a numeric uid, as given to
// --allow-user.
func LookupUID(nameOrUID string) (uint32, error) {
	if n, err := strconv.ParseUint(nameOrUID, 10, 32); err == nil {
		return uint32(n), nil
	}
	u, err := user.Lookup(nameOrUID)
	if err != nil {
		return 0, fmt.Errorf("looking up user %q: %w (create the user or give a numeric uid)", nameOrUID, err)
	}
	n, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("user %q has non-numeric uid %q", nameOrUID, u.Uid)
	}
	return uint32(n), nil
}
