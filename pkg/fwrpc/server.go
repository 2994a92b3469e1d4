// Package fwrpc carries the firewall.Manager contract over gRPC: a service
// that wraps any Manager (kk-firewall serves it on a unix socket) and a
// Client that implements Manager by calling it (kk-monitor uses it).
//
// Errors cross the wire as gRPC status codes, converted only here, so that
// errors.Is(err, firewall.ErrInvalid) and the other sentinels work for
// callers of Client.
package fwrpc

import (
	"context"
	"log/slog"
	"time"

	"google.golang.org/grpc"

	"github.com/kk-project/kk/pkg/firewall"
	fwpb "github.com/kk-project/kk/proto/knockknock/firewall/v1"
)

// streamWorkers is how many long-lived goroutines run the server's calls.
// Without them gRPC starts a goroutine per call, whose stack then grows
// (copied twice or more) under the handler, the slog line and the
// Manager: 8% of a call's CPU back to back, and 0.1-0.15 ms of a knock's
// call on the 2-core lab, where each call finds the helper asleep
// (BenchmarkOpenRoundTripProcesses: p50 0.83-1.01 ms with workers against
// 0.93-1.19 ms without, over four interleaved runs). kk-monitor's Opens
// come one at a time and admins' calls are rare, so two suffice; a call
// that finds both busy still gets a goroutine of its own.
const streamWorkers = 2

// A ServerOption configures NewServer.
type ServerOption func(*serverConfig)

type serverConfig struct {
	access   Access
	log      *slog.Logger
	activity func()
}

// AllowUIDs lets these uids call the server, besides uid 0 which is always
// allowed.
func AllowUIDs(uids ...uint32) ServerOption {
	return func(c *serverConfig) { c.access.UIDs = append(c.access.UIDs, uids...) }
}

// AllowAdminGroup lets members of g call List, Revoke and the health check,
// but not Open. kk-firewall passes its socket's group.
func AllowAdminGroup(g Group) ServerOption {
	return func(c *serverConfig) { c.access.AdminGroups = append(c.access.AdminGroups, g) }
}

// WithLogger sets the logger for audit and refusal lines; the default is
// slog.Default().
func WithLogger(l *slog.Logger) ServerOption {
	return func(c *serverConfig) { c.log = l }
}

// OnActivity sets a function called at the start and end of every RPC,
// allowed or not; kk-firewall uses it to measure idleness. It must be safe
// for concurrent use.
func OnActivity(f func()) ServerOption {
	return func(c *serverConfig) { c.activity = f }
}

// NewServer returns a gRPC server offering the knockknock.firewall.v1
// Firewall service backed by m. Every connection's peer is identified with
// SO_PEERCRED: uid 0 and the AllowUIDs users may call anything, members of
// an AllowAdminGroup group only List, Revoke and the health check, and
// nobody else anything.
// Serve it on a unix socket listener.
//
// kk-firewall adds the health and reflection services itself: kk-monitor
// imports this package for Dial, and linking those services in would cost
// it about 0.7 MB of resident memory.
func NewServer(m firewall.Manager, opts ...ServerOption) *grpc.Server {
	cfg := serverConfig{log: slog.Default(), activity: func() {}}
	for _, o := range opts {
		o(&cfg)
	}
	allow := NewAllowlist(cfg.log, cfg.access)
	s := grpc.NewServer(
		grpc.Creds(TransportCredentials()),
		grpc.NumStreamWorkers(streamWorkers),
		grpc.ChainUnaryInterceptor(activityUnary(cfg.activity), allow.UnaryInterceptor()),
		grpc.ChainStreamInterceptor(activityStream(cfg.activity), allow.StreamInterceptor()),
	)
	fwpb.RegisterFirewallServer(s, &service{m: m, log: cfg.log})
	return s
}

func activityUnary(f func()) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		f()
		defer f()
		return h(ctx, req)
	}
}

func activityStream(f func()) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		f()
		defer f()
		return h(srv, ss)
	}
}

// service adapts a firewall.Manager to the generated FirewallServer.
type service struct {
	fwpb.UnimplementedFirewallServer
	m   firewall.Manager
	log *slog.Logger
}

func (s *service) Open(ctx context.Context, r *fwpb.OpenRequest) (*fwpb.OpenResponse, error) {
	start := time.Now()
	caller, _ := FromContext(ctx)
	req, err := requestFromProto(r)
	if err == nil {
		var o firewall.Opening
		if o, err = s.m.Open(ctx, req); err == nil {
			s.log.Info("opened", "ip", o.IP, "port", o.Port, "deadline", o.Deadline, "profile", o.Profile, "caller", caller, "took", time.Since(start))
			return &fwpb.OpenResponse{Opening: openingToProto(o)}, nil
		}
	}
	// The caller chose these strings: log a bounded prefix of each.
	s.log.Warn("open refused", "ip", clip(r.GetSourceIp()), "port", r.GetPort(), "duration_seconds", r.GetDurationSeconds(),
		"profile", clip(r.GetProfile()), "caller", caller, "err", err)
	return nil, toStatus(err)
}

func (s *service) List(ctx context.Context, _ *fwpb.ListRequest) (*fwpb.ListResponse, error) {
	os, err := s.m.List(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &fwpb.ListResponse{Openings: make([]*fwpb.Opening, 0, len(os))}
	for _, o := range os {
		resp.Openings = append(resp.Openings, openingToProto(o))
	}
	return resp, nil
}

func (s *service) Revoke(ctx context.Context, r *fwpb.RevokeRequest) (*fwpb.RevokeResponse, error) {
	caller, _ := FromContext(ctx)
	ip, err := parseIP(r.GetSourceIp())
	if err != nil {
		return nil, toStatus(err)
	}
	port, err := parsePort(r.GetPort())
	if err != nil {
		return nil, toStatus(err)
	}
	if err := s.m.Revoke(ctx, ip, port); err != nil {
		return nil, toStatus(err)
	}
	s.log.Info("revoked", "ip", ip, "port", port, "caller", caller)
	return &fwpb.RevokeResponse{}, nil
}
