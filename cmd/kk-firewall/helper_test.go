package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kk-project/kk/internal/nstest"
	"github.com/kk-project/kk/internal/syncbuf"
	"github.com/kk-project/kk/pkg/fwrpc"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds kk-firewall once per test run.
func binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "kkfw-bin")
		if err != nil {
			buildErr = err
			return
		}
		os.Chmod(dir, 0o755) // the tests run it as other users too
		binPath = filepath.Join(dir, "kk-firewall")
		build := exec.Command(goTool(), "build", "-o", binPath, ".")
		build.Env = append(os.Environ(), "CGO_ENABLED=0") // static: no libc mapped, ~1.5 MB less RSS
		out, err := build.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// A helper is a kk-firewall process running in a namespace.
type helper struct {
	cmd  *exec.Cmd
	sock string
	log  *syncbuf.Buffer
	done chan error
}

// socketDir returns a directory that user nobody can traverse.
func socketDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "kkfw-sock")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// startHelper runs kk-firewall --listen in ns and waits for its socket.
func startHelper(t testing.TB, ns *nstest.NS, sock string, args ...string) *helper {
	t.Helper()
	h := launch(t, ns, sock, append([]string{binary(t), "--listen", sock}, args...)...)
	waitFor(t, 20*time.Second, "kk-firewall socket "+sock, func() bool {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return h
}

// launch starts args in ns without waiting for anything.
func launch(t testing.TB, ns *nstest.NS, sock string, args ...string) *helper {
	t.Helper()
	h := &helper{sock: sock, log: &syncbuf.Buffer{}, done: make(chan error, 1)}
	h.cmd = ns.Command(context.Background(), args...)
	h.cmd.Stdout, h.cmd.Stderr = h.log, h.log
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { h.done <- h.cmd.Wait() }()
	t.Cleanup(func() {
		h.cmd.Process.Kill()
		select {
		case <-h.done:
		case <-time.After(10 * time.Second):
		}
		if t.Failed() {
			t.Logf("kk-firewall output:\n%s", h.log)
		}
	})
	return h
}

// wait returns the process's exit error, or fails the test after limit.
func (h *helper) wait(t testing.TB, limit time.Duration) error {
	t.Helper()
	select {
	case err := <-h.done:
		h.done <- err
		return err
	case <-time.After(limit):
		t.Fatalf("kk-firewall still running after %v", limit)
		return nil
	}
}

// running reports whether the process has not exited.
func (h *helper) running() bool {
	select {
	case err := <-h.done:
		h.done <- err
		return false
	default:
		return true
	}
}

func (h *helper) client(t testing.TB) *fwrpc.Client {
	t.Helper()
	c, err := fwrpc.Dial(h.sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitFor polls cond every 50 ms for at most limit.
func waitFor(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// chain returns the rules of KNOCKKNOCK in ns, without the -N line.
func chain(t testing.TB, ns *nstest.NS, cmd string) []string {
	t.Helper()
	var rules []string
	for _, l := range strings.Split(ns.Run(t, cmd, "-S", "KNOCKKNOCK"), "\n") {
		if strings.HasPrefix(l, "-A ") {
			rules = append(rules, l)
		}
	}
	return rules
}

// connects reports whether a TCP connection from src in ns to dst is
// accepted within 2 s.
func connects(t testing.TB, ns *nstest.NS, src, dst string) bool {
	t.Helper()
	var err error
	if nsErr := ns.Do(func() error {
		d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		var c net.Conn
		if c, err = d.Dial("tcp", dst); err == nil {
			c.Close()
		}
		return nil
	}); nsErr != nil {
		t.Fatal(nsErr)
	}
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, syscall.ETIMEDOUT) && !isTimeout(err) {
		t.Fatalf("connect %s -> %s: unexpected error %v", src, dst, err)
	}
	return err == nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// goTool returns the go command: the one on PATH, else Debian's
// /usr/local/go install.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

// backends are the --backend values the promise tests run under: the
// netlink writer and the iptables command it falls back to.
var backends = []string{"auto", "iptables"}

// forBackends runs f as a parallel subtest per backend.
func forBackends(t *testing.T, f func(t *testing.T, backend string)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			f(t, b)
		})
	}
}

// startBackend runs kk-firewall --backend backend in ns and waits until
// its log says that both families write rules as backend says: with auto,
// over netlink, which the start-up check (run after the first call)
// allows on an iptables-nft host such as this one; a test that meant to
// cover the netlink writer must not pass on the fallback.
func startBackend(t testing.TB, ns *nstest.NS, sock, backend string, args ...string) *helper {
	t.Helper()
	h := startHelper(t, ns, sock, append([]string{"--backend", backend}, args...)...)
	want := "opening rules are written over nf_tables netlink"
	if backend == "iptables" {
		want = "(backend iptables)"
	}
	waitFor(t, 20*time.Second, "both families' backend line", func() bool {
		return strings.Count(h.log.String(), "opening rules are written ") >= 2
	})
	if n := strings.Count(h.log.String(), want); n != 2 {
		t.Fatalf("--backend %s: %d families log %q, want 2:\n%s", backend, n, want, h.log)
	}
	return h
}
