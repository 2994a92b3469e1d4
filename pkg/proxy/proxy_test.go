package proxy_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	xproxy "golang.org/x/net/proxy"

	"github.com/kk-project/kk/internal/nstest"
	"github.com/kk-project/kk/internal/syncbuf"
	"github.com/kk-project/kk/pkg/proxy"
	"github.com/kk-project/kk/pkg/syn"
)

var (
	_ proxy.Knocker = (*fakeKnocker)(nil)
	_ proxy.Knocker = (*syn.Knocker)(nil)
)

// A knockCall records one call of fakeKnocker.Knock.
type knockCall struct {
	host, dir string
	port      uint16
	at        time.Time
}

// fakeKnocker stands in for the server's firewall: the knock numbered openAt
// starts a listener on the knocked address, as a real knock would open the
// port. Until then, dials are refused.
type fakeKnocker struct {
	t      *testing.T
	openAt int    // 0: never open
	addr   string // where to listen when opened
	err    error  // returned by every Knock when set

	mu    sync.Mutex
	calls []knockCall
}

func (f *fakeKnocker) Knock(_ context.Context, host, dir string, port uint16) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, knockCall{host, dir, port, time.Now()})
	if f.err != nil {
		return f.err
	}
	if len(f.calls) == f.openAt {
		echo(f.t, f.addr)
	}
	return nil
}

func (f *fakeKnocker) knocks() []knockCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]knockCall(nil), f.calls...)
}

// echo serves an echo server on addr until the test ends.
func echo(t *testing.T, addr string) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Errorf("listening on %s: %v", addr, err)
		return nil
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	return l
}

// closedAddr returns a loopback address on which nothing listens, yet.
func closedAddr(t *testing.T, network, host string) string {
	t.Helper()
	l, err := net.Listen(network, net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// harness is a running proxy with a profiles directory.
type harness struct {
	t        *testing.T
	profiles string
	addr     string // the proxy's 127.0.0.1 listener
	logs     *syncbuf.Buffer
	stop     func() error // stops the proxy and waits, at most 10s, for Serve
}

func startProxy(t *testing.T, k proxy.Knocker, names map[string][]netip.Addr, profileNames ...string) *harness {
	t.Helper()
	return startProxyWith(t, k, names, func(*proxy.Config) {}, profileNames...)
}

// startProxyWith is startProxy with the Config changed by edit.
func startProxyWith(t *testing.T, k proxy.Knocker, names map[string][]netip.Addr, edit func(*proxy.Config), profileNames ...string) *harness {
	t.Helper()
	h := &harness{t: t, profiles: t.TempDir(), logs: &syncbuf.Buffer{}}
	for _, n := range profileNames {
		if err := os.Mkdir(filepath.Join(h.profiles, n), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	log := slog.New(slog.NewTextHandler(h.logs, nil))
	cfg := proxy.Config{
		ProfilesDir: h.profiles, Knocker: k, Wait: 5 * time.Millisecond, DialTimeout: 5 * time.Second,
		KnockInterval: time.Millisecond, LookupNetIP: fakeLookup(names), Logger: log, Credentials: testCreds,
	}
	edit(&cfg)
	srv, err := proxy.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := proxy.Listen(0, log)
	if err != nil {
		t.Fatal(err)
	}
	h.addr = ls[0].Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ls...) }()
	h.stop = sync.OnceValue(func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			return errors.New("serve did not return within 10s of cancel")
		}
	})
	t.Cleanup(func() {
		if err := h.stop(); err != nil {
			t.Error(err)
		}
	})
	return h
}

// fakeLookup resolves only the names in m.
func fakeLookup(m map[string][]netip.Addr) func(context.Context, string, string) ([]netip.Addr, error) {
	return func(_ context.Context, _, host string) ([]netip.Addr, error) {
		if a, ok := m[host]; ok {
			return a, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
}

// dial connects through the proxy with golang.org/x/net/proxy's SOCKS5
// client and checks that bytes make the round trip.
func (h *harness) dial(target string) error {
	d, err := xproxy.SOCKS5("tcp", h.addr, testAuth, xproxy.Direct)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := d.(xproxy.ContextDialer).DialContext(ctx, "tcp", target)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	msg := []byte("knock knock " + target)
	if _, err := c.Write(msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("reading echo: %w", err)
	}
	if !bytes.Equal(got, msg) {
		return fmt.Errorf("echo returned %q, want %q", got, msg)
	}
	return nil
}

// connectLines returns the proxy's per-connection log lines.
func (h *harness) connectLines() []string {
	var out []string
	for _, l := range strings.Split(h.logs.String(), "\n") {
		if strings.Contains(l, "msg=connect") {
			out = append(out, l)
		}
	}
	return out
}

func ipv6Loopback(t *testing.T) {
	t.Helper()
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		nstest.Unavailable(t, fmt.Sprintf("no IPv6 loopback on this machine: %v", err))
	}
	l.Close()
}

var errKnock = errors.New("profile broken")

// testCreds are the credentials the harness's proxy asks for; testAuth
// gives them.
var (
	testCreds = &proxy.Credentials{User: "kk", Password: "0123456789abcdef"}
	testAuth  = &xproxy.Auth{User: "kk", Password: "0123456789abcdef"}
)
