package fwrpc

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/kk-project/kk/pkg/firewall"
	fwpb "github.com/kk-project/kk/proto/knockknock/firewall/v1"
)

var _ firewall.Manager = (*Client)(nil)

// A Client is a firewall.Manager that calls kk-firewall over its unix
// socket. Errors wrap the firewall sentinels; a helper that cannot be
// reached gives firewall.ErrUnavailable. A Client is safe for concurrent use
// and must be closed.
type Client struct {
	conn *grpc.ClientConn
	fw   fwpb.FirewallClient
}

// A DialOption configures Dial.
type DialOption func(*dialConfig)

type dialConfig struct {
	dial func(ctx context.Context, socketPath string) (net.Conn, error)
}

// WithDialer makes Dial connect with dial instead of a plain connect(2) to
// the socket; kk-monitor check connects as kk-monitor's user this way. dial
// is called again for every reconnection.
func WithDialer(dial func(ctx context.Context, socketPath string) (net.Conn, error)) DialOption {
	return func(c *dialConfig) { c.dial = dial }
}

// Dial returns a Client for the kk-firewall socket at socketPath. It does
// not connect yet: a missing or dead helper shows up as an error wrapping
// firewall.ErrUnavailable on the first call, and later calls reconnect.
func Dial(socketPath string, opts ...DialOption) (*Client, error) {
	var cfg dialConfig
	for _, o := range opts {
		o(&cfg)
	}
	gopts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if cfg.dial != nil {
		gopts = append(gopts, grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return cfg.dial(ctx, socketPath)
		}))
	}
	conn, err := grpc.NewClient("unix://"+socketPath, gopts...)
	if err != nil {
		return nil, fmt.Errorf("dialing kk-firewall at %s: %w", socketPath, err)
	}
	return &Client{conn: conn, fw: fwpb.NewFirewallClient(conn)}, nil
}

// Open asks kk-firewall to open req.Port for req.IP. The duration is
// rounded up to whole seconds.
func (c *Client) Open(ctx context.Context, req firewall.OpenRequest) (firewall.Opening, error) {
	resp, err := c.fw.Open(ctx, requestToProto(req))
	if err != nil {
		return firewall.Opening{}, fromStatus(fmt.Sprintf("opening %s port %d", ipString(req.IP), req.Port), err)
	}
	return openingFromProto(resp.GetOpening())
}

// List returns kk-firewall's live openings.
func (c *Client) List(ctx context.Context) ([]firewall.Opening, error) {
	resp, err := c.fw.List(ctx, &fwpb.ListRequest{})
	if err != nil {
		return nil, fromStatus("listing openings", err)
	}
	out := make([]firewall.Opening, 0, len(resp.GetOpenings()))
	for _, p := range resp.GetOpenings() {
		o, err := openingFromProto(p)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

// Revoke asks kk-firewall to close the opening for ip and port now.
func (c *Client) Revoke(ctx context.Context, ip netip.Addr, port uint16) error {
	_, err := c.fw.Revoke(ctx, &fwpb.RevokeRequest{SourceIp: ipString(ip), Port: uint32(port)})
	return fromStatus(fmt.Sprintf("revoking %s port %d", ipString(ip), port), err)
}

// Close closes the connection.
func (c *Client) Close() error {
	return c.conn.Close()
}
