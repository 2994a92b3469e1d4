package fwrpc

import (
	"context"
	"fmt"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/kk-project/kk/pkg/firewall"
	fwpb "github.com/kk-project/kk/proto/knockknock/firewall/v1"
)

// Health asks kk-firewall's grpc.health.v1 service whether the Firewall
// service is serving. It returns nil for SERVING, an error wrapping
// firewall.ErrUnavailable if the helper cannot be reached or answers
// another status, one wrapping firewall.ErrPermission if it refused this
// caller's uid, and another error if it has no health service.
func (c *Client) Health(ctx context.Context) error {
	req := &healthpb.HealthCheckRequest{Service: fwpb.Firewall_ServiceDesc.ServiceName}
	resp, err := healthpb.NewHealthClient(c.conn).Check(ctx, req)
	if err != nil {
		return fromStatus("checking kk-firewall's health", err)
	}
	if s := resp.GetStatus(); s != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("checking kk-firewall's health: %w: status %s", firewall.ErrUnavailable, s)
	}
	return nil
}
