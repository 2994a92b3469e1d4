package main

import (
	"context"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kk-project/kk/internal/nstest"
	"github.com/kk-project/kk/internal/syncbuf"
	"github.com/kk-project/kk/pkg/proxy"
)

// TestProxyStopsOnSignal runs the proxy binary and stops it with SIGINT and
// with SIGTERM: it must exit 0 after logging that it stopped. By default it
// says where its credentials are; with --insecure-no-auth it warns that it
// does not tell local users apart.
func TestProxyStopsOnSignal(t *testing.T) {
	for _, tc := range []struct {
		sig      syscall.Signal
		insecure bool
	}{{syscall.SIGINT, false}, {syscall.SIGTERM, true}} {
		sig := tc.sig
		t.Run(sig.String(), func(t *testing.T) {
			ns := nstest.New(t, "sig")
			logs := &syncbuf.Buffer{}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			dir := t.TempDir()
			args := []string{kkClient(t), "proxy", "0", "--dir", dir}
			if tc.insecure {
				args = append(args, "--insecure-no-auth")
			}
			cmd := ns.Command(ctx, args...)
			cmd.Stderr = logs
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			waitFor(t, logs, "msg=listening", 30*time.Second)
			cmd.Process.Signal(sig)
			err := cmd.Wait()
			out := logs.String()
			if err != nil || !strings.Contains(out, "msg=stopped") {
				t.Errorf("after %v: %v, want exit 0 and a 'stopped' line; log:\n%s", sig, err, out)
			}
			if warned := strings.Contains(out, "does not tell local users apart"); warned != tc.insecure {
				t.Errorf("warning that local users are not told apart: %v, want %v; log:\n%s", warned, tc.insecure, out)
			}
			creds := "must give the SOCKS5 user name and password in " + filepath.Join(dir, proxy.CredentialsFile)
			if said := strings.Contains(out, creds); said == tc.insecure {
				t.Errorf("log says %q: %v, want %v; log:\n%s", creds, said, !tc.insecure, out)
			}
			if strings.Contains(out, "0.0.0.0") || strings.Contains(out, "[::]") {
				t.Errorf("proxy listens beyond loopback; log:\n%s", out)
			}
		})
	}
}

func waitFor(t *testing.T, b *syncbuf.Buffer, substr string, timeout time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if strings.Contains(b.String(), substr) {
			return
		}
	}
	t.Fatalf("%q did not appear within %v; output:\n%s", substr, timeout, b.String())
}
