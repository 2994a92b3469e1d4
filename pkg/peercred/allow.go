package peercred

import (
	"context"
	"fmt"
	"log/slog"
	"os/user"
	"strconv"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

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
