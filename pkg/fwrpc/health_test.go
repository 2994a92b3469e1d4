package fwrpc_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/kk-project/kk/pkg/firewall"
	"github.com/kk-project/kk/pkg/fwrpc"
	fwpb "github.com/kk-project/kk/proto/knockknock/firewall/v1"
)

// serveHealth runs a server with a health service, as kk-firewall's, that
// reports status for the Firewall service (nil: no health service), and
// returns its socket.
func serveHealth(t *testing.T, status *healthpb.HealthCheckResponse_ServingStatus) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "fw.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	s := fwrpc.NewServer(&firewall.Fake{}, fwrpc.AllowUIDs(uint32(os.Getuid())))
	if status != nil {
		hs := health.NewServer()
		hs.SetServingStatus(fwpb.Firewall_ServiceDesc.ServiceName, *status)
		healthpb.RegisterHealthServer(s, hs)
	}
	go s.Serve(l)
	t.Cleanup(s.Stop)
	return sock
}

func TestHealth(t *testing.T) {
	serving, notServing := healthpb.HealthCheckResponse_SERVING, healthpb.HealthCheckResponse_NOT_SERVING
	tests := []struct {
		name    string
		sock    string
		wantErr error  // nil: no error
		wantMsg string // in the error
	}{
		{"serving", serveHealth(t, &serving), nil, ""},
		{"not serving", serveHealth(t, &notServing), firewall.ErrUnavailable, "NOT_SERVING"},
		{"no health service", serveHealth(t, nil), nil, "Unimplemented"},
		{"no socket", filepath.Join(t.TempDir(), "missing.sock"), firewall.ErrUnavailable, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := fwrpc.Dial(tt.sock)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			err = c.Health(ctx(t))
			switch {
			case tt.wantMsg == "" && err != nil:
				t.Fatalf("Health = %v, want nil", err)
			case tt.wantMsg != "" && (err == nil || !strings.Contains(err.Error(), tt.wantMsg)):
				t.Fatalf("Health = %v, want an error saying %q", err, tt.wantMsg)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("Health = %v, want it to wrap %v", err, tt.wantErr)
			}
		})
	}
}

func TestWithDialerIsUsed(t *testing.T) {
	serving := healthpb.HealthCheckResponse_SERVING
	sock := serveHealth(t, &serving)
	var calls atomic.Int32
	var gotPath atomic.Value
	c, err := fwrpc.Dial(sock, fwrpc.WithDialer(func(ctx context.Context, path string) (net.Conn, error) {
		calls.Add(1)
		gotPath.Store(path)
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Health(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 1 || gotPath.Load() != sock {
		t.Fatalf("dialer called %d times with %v, want once with %s", calls.Load(), gotPath.Load(), sock)
	}
}
