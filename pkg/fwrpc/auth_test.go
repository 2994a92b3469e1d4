package fwrpc

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/kk-project/kk/pkg/peercred"
)

func TestHandshakeCarriesPeerCred(t *testing.T) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	syscall.Close(fds[1]) // the peer's identity outlives its end
	f := os.NewFile(uintptr(fds[0]), "pair")
	defer f.Close()
	s, err := net.FileConn(f)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := peercred.Cred{PID: int32(os.Getpid()), UID: uint32(os.Getuid()), GID: uint32(os.Getgid())}
	_, ai, err := TransportCredentials().ServerHandshake(s)
	if err != nil || ai.(AuthInfo).Cred != want || ai.AuthType() != "peercred" {
		t.Fatalf("ServerHandshake = %+v, %v; want %+v", ai, err, want)
	}
}

func TestHandshakeRefusesNonSockets(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, _, err := TransportCredentials().ServerHandshake(a); err == nil {
		t.Fatal("handshake without peer credentials succeeded")
	}
}

func ctxFor(c *peercred.Cred) context.Context {
	if c == nil {
		return context.Background()
	}
	return peer.NewContext(context.Background(), &peer.Peer{AuthInfo: AuthInfo{Cred: *c}})
}

func TestAuthorize(t *testing.T) {
	var logs bytes.Buffer
	a := NewAllowlist(slog.New(slog.NewTextHandler(&logs, nil)), 1000)
	cases := []struct {
		name string
		cred *peercred.Cred
		ok   bool
	}{
		{"root", &peercred.Cred{UID: 0, PID: 1}, true},
		{"allowed user", &peercred.Cred{UID: 1000, PID: 2}, true},
		{"nobody", &peercred.Cred{UID: 65534, GID: 65534, PID: 4242}, false},
		{"other user", &peercred.Cred{UID: 1001, PID: 3}, false},
		{"no credentials", nil, false},
	}
	for _, tc := range cases {
		err := a.Authorize(ctxFor(tc.cred), "/x/Y")
		if tc.ok != (err == nil) {
			t.Errorf("%s: Authorize = %v, want allowed=%v", tc.name, err, tc.ok)
		}
		if !tc.ok && status.Code(err) != codes.PermissionDenied {
			t.Errorf("%s: code %v, want PermissionDenied", tc.name, status.Code(err))
		}
	}
	if !strings.Contains(logs.String(), "uid=65534 gid=65534 pid=4242") {
		t.Errorf("refusal log lacks uid and pid:\n%s", logs.String())
	}
}
