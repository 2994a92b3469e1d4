package proxy_test

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	xproxy "golang.org/x/net/proxy"

	"github.com/kk-project/kk/pkg/proxy"
)

// TestTCPNeedsCredentials connects with no, wrong and right credentials:
// only the right ones get through, and only they make the proxy knock.
func TestTCPNeedsCredentials(t *testing.T) {
	target := closedAddr(t, "tcp4", "127.0.0.1")
	k := &fakeKnocker{t: t, openAt: 1, addr: target}
	h := startProxy(t, k, nil, "127.0.0.1")
	cases := []struct {
		name string
		auth *xproxy.Auth
		ok   bool
	}{
		{"no authentication", nil, false},
		{"wrong password", &xproxy.Auth{User: "kk", Password: "0123456789abcdeX"}, false},
		{"wrong user", &xproxy.Auth{User: "kx", Password: testCreds.Password}, false},
		{"empty password", &xproxy.Auth{User: "kk", Password: ""}, false},
		{"right credentials", testAuth, true},
	}
	for _, tc := range cases {
		d, err := xproxy.SOCKS5("tcp", h.addr, tc.auth, xproxy.Direct)
		if err != nil {
			t.Fatal(err)
		}
		c, err := d.Dial("tcp", target)
		if (err == nil) != tc.ok {
			t.Errorf("%s: dial err %v, want success %v", tc.name, err, tc.ok)
		}
		if c != nil {
			c.Close()
		}
		if !tc.ok && len(k.knocks()) != 0 {
			t.Errorf("%s: the proxy knocked", tc.name)
		}
	}
	if n := len(k.knocks()); n != 1 {
		t.Errorf("%d knocks, want 1", n)
	}
}

// TestServeRefusesOpenTCP checks that Serve will not serve TCP without
// credentials unless told to.
func TestServeRefusesOpenTCP(t *testing.T) {
	srv, err := proxy.New(proxy.Config{ProfilesDir: t.TempDir(), Knocker: &fakeKnocker{t: t}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Serve(ctx, l); err == nil || !strings.Contains(err.Error(), "needs Credentials") {
		t.Errorf("Serve on TCP without credentials: %v, want a refusal", err)
	}
}

// TestUnixSocketServesOwner serves a unix socket and connects to it as the
// same user, without credentials. The socket is created 0600. (Another
// user's refusal is tested with the real binary in cmd/kk-client.)
func TestUnixSocketServesOwner(t *testing.T) {
	target := closedAddr(t, "tcp4", "127.0.0.1")
	echo(t, target)
	path := filepath.Join(t.TempDir(), "socks")
	l, err := proxy.ListenUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, %v; want 0600", fi.Mode(), err)
	}
	srv, err := proxy.New(proxy.Config{ProfilesDir: t.TempDir(), Knocker: &fakeKnocker{t: t}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l) }()
	defer func() { cancel(); <-done }()
	d, err := xproxy.SOCKS5("unix", path, nil, xproxy.Direct)
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.Dial("tcp", target)
	if err != nil {
		t.Fatalf("dial through the unix socket: %v", err)
	}
	c.Close()
	if _, err := proxy.ListenUnix(path); err == nil || !strings.Contains(err.Error(), "another process serves it") {
		t.Errorf("second ListenUnix on a served socket: %v, want a refusal", err)
	}
}

// TestLoadCredentials creates credentials, reads them back, and refuses
// files others can read, that are not regular, or that are malformed.
func TestLoadCredentials(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, proxy.CredentialsFile)
	c, created, err := proxy.LoadCredentials(path, nil)
	if err != nil || !created || c.User != "kk" || len(c.Password) != 32 {
		t.Fatalf("first load: %+v, created %v, %v; want fresh kk credentials", c, created, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("credentials mode %v, %v; want 0600", fi.Mode(), err)
	}
	again, created, err := proxy.LoadCredentials(path, nil)
	if err != nil || created || again.Password != c.Password || !again.Valid("kk", c.Password) || again.Valid("kk", "x") {
		t.Fatalf("reload: %+v, created %v, %v; want the same credentials", again, created, err)
	}
	os.Chmod(path, 0o640)
	if _, _, err := proxy.LoadCredentials(path, nil); err == nil || !strings.Contains(err.Error(), "chmod 600 "+path) {
		t.Errorf("group-readable credentials: %v, want a refusal naming chmod 600", err)
	}
	link := filepath.Join(dir, "link")
	os.Symlink(path, link)
	if _, _, err := proxy.LoadCredentials(link, nil); err == nil {
		t.Error("credentials through a symlink were accepted")
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, _, err := proxy.LoadCredentials(fifo, nil); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("FIFO credentials: %v, want a refusal", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("LoadCredentials blocked on a FIFO")
	}
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("kk:short\n"), 0o600)
	if _, _, err := proxy.LoadCredentials(bad, nil); err == nil || !strings.Contains(err.Error(), "not one line user:password") {
		t.Errorf("short password: %v, want a refusal", err)
	}
}
