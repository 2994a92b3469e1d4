package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	xproxy "golang.org/x/net/proxy"

	"github.com/kk-project/kk/internal/nstest"
	"github.com/kk-project/kk/pkg/profile"
	"github.com/kk-project/kk/pkg/proxy"
)

const parallel = 60

// TestProxyRefusesOtherUsers runs the real proxy on TCP and on a unix
// socket, and makes 60 concurrent SOCKS5 CONNECTs on each as user nobody
// (curl under setpriv): over TCP without the credentials, which nobody
// cannot read, and over the unix socket, made 0666 so that only the peer's
// uid stops them. None may reach the target or move the counter. The
// owner's own curl, with the credentials, then gets through with one knock.
func TestProxyRefusesOtherUsers(t *testing.T) {
	nstest.RequireRoot(t)
	for _, tool := range []string{"setpriv", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed: apt-get install util-linux curl", tool)
		}
	}
	ns := nstest.New(t, "own")
	profiles := t.TempDir()
	p, err := profile.GenerateForGroup(profiles, "127.0.0.1", 20000+int(randUint16()%20000), -1) // a client copy: 0600, whatever groups this host has
	if err != nil {
		t.Fatal(err)
	}
	var reached atomic.Int32
	target := serveInNetns(t, ns, "127.0.0.1:0", func(c net.Conn) { reached.Add(1); c.Close() })
	sock := filepath.Join(worldDir(t), "socks")
	addr, logs := startProxyBinary(t, ns, profiles, "--unix", sock)
	if err := os.Chmod(sock, 0o666); err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/", target.Port)
	nobody := []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"}
	credsFile := filepath.Join(profiles, proxy.CredentialsFile)
	if out, err := ns.Command(context.Background(), append(nobody, "cat", credsFile)...).CombinedOutput(); err == nil {
		t.Errorf("nobody read the credentials: %s", out)
	}
	curls := map[string][]string{
		"TCP":  {"--socks5-hostname", addr},
		"unix": {"--proxy", "socks5h://localhost" + sock},
	}
	for name, via := range curls {
		t0 := time.Now()
		fails := runParallel(ns, parallel, append(append(nobody, "curl", "-sS", "--max-time", "10"), append(via, url)...))
		t.Logf("%s: %v", name, time.Since(t0))
		if fails != parallel {
			t.Errorf("%s: %d of %d curls as nobody failed, want all", name, fails, parallel)
		}
	}
	if n := reached.Load(); n != 0 {
		t.Errorf("%d connections as nobody reached the target", n)
	}
	if c := counter(t, p); c != 0 {
		t.Errorf("counter %d after nobody's connections, want 0", c)
	}
	if n := strings.Count(logs.String(), "uid=65534"); n != parallel {
		t.Errorf("%d unix socket refusals of uid 65534 logged, want %d", n, parallel)
	}
	auth := proxyAuth(t, profiles)
	owner := []string{"curl", "-sS", "--max-time", "10", "--socks5-hostname", auth.User + ":" + auth.Password + "@" + addr, url}
	out, err := ns.Command(context.Background(), owner...).CombinedOutput()
	if reached.Load() != 1 || counter(t, p) != 1 {
		t.Errorf("the owner's curl: %v, %s; reached the target %d times, counter %d; want 1 and 1", err, out, reached.Load(), counter(t, p))
	}
}

// TestProxyPacesParallelConnects makes 60 parallel CONNECTs as the owner to
// one host with a profile, through the real proxy with its defaults. The
// counter may move by at most one knock a second and 10 per 15 s delay
// (the first knock of the next window included); each knock lets one
// connection through, and the rest are refused after --delay.
func TestProxyPacesParallelConnects(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.New(t, "pace")
	profiles := t.TempDir()
	p, err := profile.GenerateForGroup(profiles, "127.0.0.1", 20000+int(randUint16()%20000), -1) // a client copy: 0600, whatever groups this host has
	if err != nil {
		t.Fatal(err)
	}
	var reached atomic.Int32
	target := serveInNetns(t, ns, "127.0.0.1:0", func(c net.Conn) { reached.Add(1); c.Close() })
	addr, logs := startProxyBinary(t, ns, profiles)
	d, err := xproxy.SOCKS5("tcp", addr, proxyAuth(t, profiles), nsDialer{ns})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var wg sync.WaitGroup
	var through atomic.Int32
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c, err := d.Dial("tcp", target.String()); err == nil {
				through.Add(1)
				c.Close()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	moved := counter(t, p)
	bound := min(proxy.DefaultKnocksPerDelay*(1+uint64(elapsed/proxy.DefaultDelay)), 1+uint64(elapsed/time.Second))
	if moved > bound || moved == 0 {
		t.Errorf("counter moved by %d in %v for %d parallel connections, want 1 to %d", moved, elapsed.Round(time.Millisecond), parallel, bound)
	}
	if n := int(through.Load()); n == 0 || uint64(n) > moved {
		t.Errorf("%d connections through with %d knocks, want 1 to one per knock", n, moved)
	}
	waitForMatch(t, logs, regexp.MustCompile(`(?s)(msg=connect.*){60}`), 10*time.Second)
	t.Logf("%d parallel connections: counter moved by %d in %v, %d got through, %d refused",
		parallel, moved, elapsed.Round(time.Millisecond), through.Load(), parallel-int(through.Load()))
}

// worldDir returns a new directory that every user may traverse.
func worldDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "kk-sock")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	return dir
}

// runParallel runs n copies of args at once in ns and returns how many
// failed.
func runParallel(ns *nstest.NS, n int, args []string) int {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var fails atomic.Int32
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ns.Command(ctx, args...).Run() != nil {
				fails.Add(1)
			}
		}()
	}
	wg.Wait()
	return int(fails.Load())
}
