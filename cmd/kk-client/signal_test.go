package main

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kk-project/kk/internal/nstest"
	"github.com/kk-project/kk/internal/syncbuf"
)

// TestProxyStopsOnSignal runs the proxy binary and stops it with SIGINT and
// with SIGTERM: it must warn at start that it does not tell local users
// apart, and exit 0 after logging that it stopped.
func TestProxyStopsOnSignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			ns := nstest.New(t, "sig")
			logs := &syncbuf.Buffer{}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := ns.Command(ctx, kkClient(t), "proxy", "0", "--dir", t.TempDir())
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
			if !strings.Contains(out, "does not tell local users apart") {
				t.Errorf("no warning that local users are not told apart; log:\n%s", out)
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
