package check

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/kk-project/kk/internal/nstest"
	"github.com/kk-project/kk/pkg/firewall"
	"github.com/kk-project/kk/pkg/fwrpc"
	fwpb "github.com/kk-project/kk/proto/knockknock/firewall/v1"
)

func TestCheckSocket(t *testing.T) {
	owner := me()
	stranger := &identity{name: "stranger", uid: 4242, gid: 4242, gids: []uint32{4242}}
	member := &identity{name: "member", uid: 4242, gid: 4242, gids: []uint32{4242, uint32(os.Getgid())}, groups: []string{"member", "its"}}
	tests := []struct {
		name   string
		id     *identity
		mode   os.FileMode // of the socket; 0 means a regular file instead
		status Status
		want   string
	}{
		{"owner, 0600", owner, 0o600, OK, "me may connect (0600 "},
		{"group member, 0660", member, 0o660, OK, "member may connect (0660 "},
		{"stranger, 0660", stranger, 0o660, Fail, "stranger may not connect (0660 "},
		{"group member, 0640", member, 0o640, Fail, "fix: SocketGroup=member and SocketMode=0660 in kk-firewall.socket"},
		{"world-writable", stranger, 0o666, Warn, "any local user may connect (0666 "},
		{"not a socket", owner, 0, Fail, "is not a socket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			openDirs(t, dir)
			sock := filepath.Join(dir, "fw.sock")
			if tt.mode == 0 {
				must(t, os.WriteFile(sock, nil, 0o600))
			} else {
				l, err := net.Listen("unix", sock)
				must(t, err)
				defer l.Close()
				must(t, os.Chmod(sock, tt.mode))
			}
			r := newRun(withDefaults(Options{Socket: sock, User: tt.id.name}))
			r.cfg.Socket, r.id = sock, tt.id
			res := r.checkSocket()
			if res.Status != tt.status || !strings.Contains(res.String(), tt.want) {
				t.Errorf("got %s\nwant %s containing %q", res, tt.status, tt.want)
			}
		})
	}
}

func TestCheckSocketUnreachableDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	must(t, os.Mkdir(dir, 0o750))
	sock := filepath.Join(dir, "fw.sock")
	l, err := net.Listen("unix", sock)
	must(t, err)
	defer l.Close()
	must(t, os.Chmod(sock, 0o666))
	r := newRun(withDefaults(Options{User: "stranger"}))
	r.cfg.Socket, r.id = sock, &identity{name: "stranger", uid: 4242, gid: 4242, gids: []uint32{4242}}
	if res := r.checkSocket(); res.Status != Fail || !strings.Contains(res.String(), "stranger cannot reach it: ") {
		t.Errorf("got %s", res)
	}
}

// openDirs lets anyone search dir and the test's temporary directories
// above it.
func openDirs(t *testing.T, dir string) {
	t.Helper()
	for d := dir; strings.HasPrefix(d, os.TempDir()+"/"); d = filepath.Dir(d) {
		must(t, os.Chmod(d, 0o755))
	}
}

// TestFirewallAsMonitorUser runs the health check from root as nobody:
// kk-firewall's peer check sees nobody's uid and admits it only when
// allowed.
func TestFirewallAsMonitorUser(t *testing.T) {
	nstest.RequireRoot(t)
	nobody := &identity{name: "nobody", uid: 65534, gid: 65534, gids: []uint32{65534}}
	tests := []struct {
		name   string
		allow  []uint32
		status Status
		want   string
	}{
		{"allowed", []uint32{65534}, OK, "SERVING, asked as nobody (uid 65534)"},
		{"not allowed", nil, Fail, "kk-firewall refuses nobody (uid 65534); fix: run kk-firewall with --allow-user nobody"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			openDirs(t, dir)
			sock := filepath.Join(dir, "fw.sock")
			l, err := net.Listen("unix", sock)
			must(t, err)
			must(t, os.Chmod(sock, 0o666))
			s := fwrpc.NewServer(&firewall.Fake{}, fwrpc.AllowUIDs(tt.allow...))
			hs := health.NewServer()
			hs.SetServingStatus(fwpb.Firewall_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
			healthpb.RegisterHealthServer(s, hs)
			go s.Serve(l)
			defer s.Stop()
			r := newRun(withDefaults(Options{User: "nobody", Timeout: 5 * time.Second}))
			r.cfg.Socket, r.id = sock, nobody
			res := r.checkFirewall(context.Background())
			if res.Status != tt.status || !strings.Contains(res.String(), tt.want) {
				t.Errorf("got %s\nwant %s containing %q", res, tt.status, tt.want)
			}
		})
	}
}
