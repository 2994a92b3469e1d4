// Package peercred identifies the process at the other end of a unix socket
// with SO_PEERCRED, and gives gRPC servers transport credentials and
// interceptors that admit only allowed users.
//
// The handshake reads the peer's credentials once per connection and
// carries them in AuthInfo; the interceptors ask an Allowlist on every call,
// so a refused caller gets PERMISSION_DENIED rather than a dropped
// connection.
package peercred

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
)

// ErrNoCred means a connection carries no peer credentials, for example
// because it is not a unix socket.
var ErrNoCred = errors.New("no peer credentials")

// A Cred is the identity of the process that connected, as the kernel saw it
// when it called connect.
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
	var ucred *unix.Ucred
	var sockErr error
	err = raw.Control(func(fd uintptr) {
		ucred, sockErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	})
	if err == nil {
		err = sockErr
	}
	if err != nil {
		return Cred{}, fmt.Errorf("%w: SO_PEERCRED: %v", ErrNoCred, err)
	}
	return Cred{PID: ucred.Pid, UID: ucred.Uid, GID: ucred.Gid}, nil
}

// AuthInfo is the credentials.AuthInfo of a connection accepted by
// TransportCredentials.
type AuthInfo struct {
	credentials.CommonAuthInfo
	Cred Cred
}

// AuthType returns "peercred".
func (AuthInfo) AuthType() string { return "peercred" }

// FromContext returns the peer credentials of the connection that carries
// the RPC in ctx. ok is false if the connection was not accepted by
// TransportCredentials.
func FromContext(ctx context.Context) (c Cred, ok bool) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return Cred{}, false
	}
	ai, ok := p.AuthInfo.(AuthInfo)
	return ai.Cred, ok
}
