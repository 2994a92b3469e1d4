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
	a := NewAllowlist(slog.New(slog.NewTextHandler(&logs, nil)), Access{UIDs: []uint32{1000}})
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

func ctxWith(c peercred.Cred, groups ...uint32) context.Context {
	return peer.NewContext(context.Background(), &peer.Peer{AuthInfo: AuthInfo{Cred: c, Groups: groups}})
}

func TestAuthorizeAdminGroupMayOnlyListRevokeAndCheck(t *testing.T) {
	var logs bytes.Buffer
	a := NewAllowlist(slog.New(slog.NewTextHandler(&logs, nil)),
		Access{UIDs: []uint32{1000}, AdminGroups: []Group{{GID: 999, Name: "knockknock"}}})
	const (
		open    = "/knockknock.firewall.v1.Firewall/Open"
		list    = "/knockknock.firewall.v1.Firewall/List"
		revoke  = "/knockknock.firewall.v1.Firewall/Revoke"
		health  = "/grpc.health.v1.Health/Check"
		reflect = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
	)
	primary := peercred.Cred{UID: 1001, GID: 999, PID: 10}
	outsider := peercred.Cred{UID: 1002, GID: 1002, PID: 11}
	cases := []struct {
		name    string
		ctx     context.Context
		method  string
		ok      bool
		message string // in the refusal sent back
	}{
		{"member by primary group lists", ctxWith(primary), list, true, ""},
		{"member by primary group revokes", ctxWith(primary), revoke, true, ""},
		{"member checks health", ctxWith(primary), health, true, ""},
		{"member by supplementary group lists", ctxWith(outsider, 27, 999), list, true, ""},
		{"member may not open", ctxWith(primary), open, false, "only root and --allow-user"},
		{"member may not use reflection", ctxWith(primary), reflect, false, "only root and --allow-user"},
		{"outsider may not list", ctxWith(outsider, 27, 100), list, false, "member of group knockknock"},
		{"outsider may not revoke", ctxWith(outsider), revoke, false, "member of group knockknock"},
		{"outsider may not open", ctxWith(outsider), open, false, "may not call " + open},
		{"allowed uid opens", ctxWith(peercred.Cred{UID: 1000, GID: 1000}), open, true, ""},
		{"root opens", ctxWith(peercred.Cred{}), open, true, ""},
		{"gid 999 is not uid 999", ctxWith(peercred.Cred{UID: 999, GID: 5}), list, false, "member of group knockknock"},
	}
	for _, tc := range cases {
		err := a.Authorize(tc.ctx, tc.method)
		if tc.ok != (err == nil) {
			t.Errorf("%s: Authorize = %v, want allowed=%v", tc.name, err, tc.ok)
			continue
		}
		if !tc.ok && (status.Code(err) != codes.PermissionDenied || !strings.Contains(status.Convert(err).Message(), tc.message)) {
			t.Errorf("%s: %v, want PermissionDenied saying %q", tc.name, err, tc.message)
		}
	}
	for _, want := range []string{
		"the socket's group may only list, revoke and check health",
		"neither root, --allow-user nor in the socket's group",
		"uid=1002 gid=1002 pid=11",
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("refusal log lacks %q:\n%s", want, logs.String())
		}
	}
}
