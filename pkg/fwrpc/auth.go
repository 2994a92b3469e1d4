package fwrpc

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/kk-project/kk/pkg/peercred"
)

// AuthInfo is the credentials.AuthInfo of a connection accepted by
// TransportCredentials.
type AuthInfo struct {
	credentials.CommonAuthInfo
	Cred peercred.Cred
}

// AuthType returns "peercred".
func (AuthInfo) AuthType() string { return "peercred" }

// FromContext returns the peer credentials of the connection that carries
// the RPC in ctx. ok is false if the connection was not accepted by
// TransportCredentials.
func FromContext(ctx context.Context) (c peercred.Cred, ok bool) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return peercred.Cred{}, false
	}
	ai, ok := p.AuthInfo.(AuthInfo)
	return ai.Cred, ok
}

// TransportCredentials returns server-side gRPC transport credentials that
// read SO_PEERCRED during the handshake and record it in AuthInfo. Traffic
// is not encrypted: the unix socket is local and its file mode is the first
// layer of access control. A connection without peer credentials fails the
// handshake.
func TransportCredentials() credentials.TransportCredentials {
	return transportCreds{}
}

type transportCreds struct{}

func (transportCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	c, err := peercred.Get(conn)
	if err != nil {
		return nil, nil, fmt.Errorf("peercred handshake: %w", err)
	}
	return conn, newAuthInfo(c), nil
}

func (transportCreds) ClientHandshake(_ context.Context, _ string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	c, err := peercred.Get(conn)
	if err != nil {
		return nil, nil, fmt.Errorf("peercred handshake: %w", err)
	}
	return conn, newAuthInfo(c), nil
}

func newAuthInfo(c peercred.Cred) AuthInfo {
	return AuthInfo{
		CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.NoSecurity},
		Cred:           c,
	}
}

func (transportCreds) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "peercred"}
}

func (t transportCreds) Clone() credentials.TransportCredentials { return t }

func (transportCreds) OverrideServerName(string) error { return nil }

// An Allowlist decides which users may call a server: uid 0 and the listed
// uids. It is immutable and safe for concurrent use.
type Allowlist struct {
	uids map[uint32]bool
	log  *slog.Logger
}

// NewAllowlist returns an Allowlist admitting uid 0 and uids, logging
// refusals to log (nil means slog.Default()).
func NewAllowlist(log *slog.Logger, uids ...uint32) *Allowlist {
	if log == nil {
		log = slog.Default()
	}
	a := &Allowlist{uids: map[uint32]bool{0: true}, log: log}
	for _, u := range uids {
		a.uids[u] = true
	}
	return a
}

// Authorize returns nil if the caller of the RPC in ctx may call method,
// and otherwise a PERMISSION_DENIED status, logging who was refused and why.
// It is the one place that decides who may call.
func (a *Allowlist) Authorize(ctx context.Context, method string) error {
	c, ok := FromContext(ctx)
	if !ok {
		a.log.Warn("refused call without peer credentials", "method", method)
		return status.Error(codes.PermissionDenied, "peer credentials unknown")
	}
	if !a.uids[c.UID] {
		a.log.Warn("refused call from user not allowed (see --allow-user)", "method", method, "uid", c.UID, "gid", c.GID, "pid", c.PID)
		return status.Errorf(codes.PermissionDenied, "uid %d may not call this service", c.UID)
	}
	return nil
}

// UnaryInterceptor returns a gRPC interceptor that calls Authorize before
// each unary RPC.
func (a *Allowlist) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if err := a.Authorize(ctx, info.FullMethod); err != nil {
			return nil, err
		}
		return h(ctx, req)
	}
}

// StreamInterceptor returns a gRPC interceptor that calls Authorize before
// each streaming RPC, such as reflection or health watches.
func (a *Allowlist) StreamInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		if err := a.Authorize(ss.Context(), info.FullMethod); err != nil {
			return err
		}
		return h(srv, ss)
	}
}
