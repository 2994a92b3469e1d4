package fwrpc

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/kk-project/kk/pkg/peercred"
	fwpb "github.com/kk-project/kk/proto/knockknock/firewall/v1"
)

// AuthInfo is the credentials.AuthInfo of a connection accepted by
// TransportCredentials.
type AuthInfo struct {
	credentials.CommonAuthInfo
	Cred peercred.Cred
	// Groups are the peer's supplementary groups when it connected; nil if
	// the kernel could not say (before Linux 4.13), in which case only
	// Cred.GID counts.
	Groups []uint32
}

// AuthType returns "peercred".
func (AuthInfo) AuthType() string { return "peercred" }

// FromContext returns the peer credentials of the connection that carries
// the RPC in ctx. ok is false if the connection was not accepted by
// TransportCredentials.
func FromContext(ctx context.Context) (c peercred.Cred, ok bool) {
	ai, ok := authInfo(ctx)
	return ai.Cred, ok
}

func authInfo(ctx context.Context) (AuthInfo, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return AuthInfo{}, false
	}
	ai, ok := p.AuthInfo.(AuthInfo)
	return ai, ok
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
	// Without SO_PEERGROUPS the caller is judged by its primary group only.
	groups, _ := peercred.Groups(conn)
	ai := newAuthInfo(c)
	ai.Groups = groups
	return conn, ai, nil
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

// adminMethods are the methods that members of an Access's AdminGroups may
// call: reading the openings, closing one, and asking whether the helper is
// up. None of them can open the firewall.
var adminMethods = []string{
	fwpb.Firewall_List_FullMethodName,
	fwpb.Firewall_Revoke_FullMethodName,
	healthpb.Health_Check_FullMethodName,
}

// A Group is a unix group, by id and, for messages, by name.
type Group struct {
	GID  uint32
	Name string
}

// String formats g as "knockknock (gid 999)".
func (g Group) String() string {
	return fmt.Sprintf("%s (gid %d)", g.Name, g.GID)
}

// Access says who may call a server besides uid 0, which always may.
type Access struct {
	// UIDs may call every method: kk-monitor's user, which must Open.
	UIDs []uint32
	// AdminGroups' members (primary or supplementary group) may call only
	// List, Revoke and the gRPC health check: kk-firewall passes its
	// socket's group, the people the socket's file mode already lets connect.
	AdminGroups []Group
}

// An Allowlist decides which peers may call which methods of a server, as
// its Access says. It is immutable and safe for concurrent use.
type Allowlist struct {
	uids   map[uint32]bool
	groups []Group
	log    *slog.Logger
}

// NewAllowlist returns an Allowlist admitting uid 0 and acc, logging
// refusals to log (nil means slog.Default()).
func NewAllowlist(log *slog.Logger, acc Access) *Allowlist {
	if log == nil {
		log = slog.Default()
	}
	a := &Allowlist{uids: map[uint32]bool{0: true}, groups: slices.Clone(acc.AdminGroups), log: log}
	for _, u := range acc.UIDs {
		a.uids[u] = true
	}
	return a
}

// Authorize returns nil if the caller of the RPC in ctx may call method,
// and otherwise a PERMISSION_DENIED status, logging who was refused and why.
// It is the one place that decides who may call.
//
// Opening the firewall is for root and the --allow-user uids only: a member
// of the socket's group who is not kk-monitor must not open ports without a
// knock. Listing and revoking are for the socket's group as well, so an
// admin need not be root to see and close openings; a compromised
// kk-monitor, which is in that group, gains nothing by it, since it could
// already open ports and sees every knock.
func (a *Allowlist) Authorize(ctx context.Context, method string) error {
	ai, ok := authInfo(ctx)
	if !ok {
		a.log.Warn("refused call without peer credentials", "method", method)
		return status.Error(codes.PermissionDenied, "peer credentials unknown")
	}
	c := ai.Cred
	if a.uids[c.UID] {
		return nil
	}
	admin := slices.Contains(adminMethods, method)
	g, member := a.memberOf(ai)
	switch {
	case admin && member:
		return nil
	case member:
		a.log.Warn("refused call: the socket's group may only list, revoke and check health; opening is for root and --allow-user",
			"method", method, "uid", c.UID, "gid", c.GID, "pid", c.PID, "group", g.Name)
		return status.Errorf(codes.PermissionDenied, "uid %d may not call %s: only root and --allow-user users may", c.UID, method)
	case admin && len(a.groups) > 0:
		a.log.Warn("refused call from user neither root, --allow-user nor in the socket's group",
			"method", method, "uid", c.UID, "gid", c.GID, "pid", c.PID, "groups", ai.Groups, "group", a.groups[0].Name)
		return status.Errorf(codes.PermissionDenied, "uid %d may not call %s: run as root or as a member of group %s",
			c.UID, method, a.groups[0].Name)
	}
	a.log.Warn("refused call from user not allowed (see --allow-user)", "method", method, "uid", c.UID, "gid", c.GID, "pid", c.PID)
	return status.Errorf(codes.PermissionDenied, "uid %d may not call %s", c.UID, method)
}

// memberOf returns the first admin group the caller is in, by its primary
// group or a supplementary one.
func (a *Allowlist) memberOf(ai AuthInfo) (Group, bool) {
	for _, g := range a.groups {
		if ai.Cred.GID == g.GID || slices.Contains(ai.Groups, g.GID) {
			return g, true
		}
	}
	return Group{}, false
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
