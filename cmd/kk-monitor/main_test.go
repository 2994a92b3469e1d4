package main

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kk-project/kk/pkg/firewall"
	"github.com/kk-project/kk/pkg/fwrpc"
	"github.com/kk-project/kk/pkg/kernlog"
	"github.com/kk-project/kk/pkg/knock"
	"github.com/kk-project/kk/pkg/profile"

	"github.com/kk-project/kk/internal/nstest"
)

// binary is the kk-monitor built once for the tests in this file.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kk-monitor-test")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "kk-monitor")
	// Built as the Makefile builds it (static, no libc mapped), so the
	// replay benchmarks measure the RSS of the binary that is shipped.
	// KK_CPUPROFILE=<file> adds cpuprofile.go, so each run of the binary
	// writes its CPU profile there (go test's -cpuprofile sees only the
	// test process).
	args := []string{"build", "-trimpath", "-o", binary}
	if os.Getenv("KK_CPUPROFILE") != "" {
		args = append(args, "-tags", "kkprofile")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building kk-monitor: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// A setup is a temporary profiles directory, kern.log and config, with a
// firewall.Fake served by the real fwrpc server on a unix socket.
type setup struct {
	t                                    testing.TB
	dir, profiles, logPath, config, sock string
	state                                string // kk-monitor's --state
	fake                                 *firewall.Fake
}

func newSetup(t testing.TB) *setup {
	t.Helper()
	dir := t.TempDir()
	s := &setup{t: t, dir: dir, profiles: filepath.Join(dir, "profiles"), logPath: filepath.Join(dir, "kern.log"),
		config: filepath.Join(dir, "config"), sock: filepath.Join(dir, "fw.sock"), fake: &firewall.Fake{}}
	s.state = filepath.Join(dir, "state")
	must(t, os.Mkdir(s.profiles, 0o755))
	must(t, os.Mkdir(s.state, 0o700))
	must(t, os.WriteFile(s.config, []byte("[main]\ndelay = 30\n"), 0o644))
	must(t, os.WriteFile(s.logPath, nil, 0o644))
	lis, err := net.Listen("unix", s.sock)
	must(t, err)
	srv := fwrpc.NewServer(s.fake, fwrpc.AllowUIDs(uint32(os.Geteuid())), fwrpc.WithLogger(slog.New(slog.DiscardHandler)))
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return s
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// start runs kk-monitor on the setup; its stderr goes to a buffer that the
// returned function reads.
func (s *setup) start(extra ...string) (*exec.Cmd, func() string) {
	s.t.Helper()
	args := append([]string{"--config", s.config, "--profiles", s.profiles, "--state", s.state, "--log", s.logPath,
		"--socket", s.sock, "--allow-root"}, extra...)
	cmd := exec.Command(binary, args...)
	var mu sync.Mutex
	var buf strings.Builder
	stderr, err := cmd.StderrPipe()
	must(s.t, err)
	must(s.t, cmd.Start())
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			mu.Lock()
			buf.WriteString(sc.Text() + "\n")
			mu.Unlock()
		}
	}()
	s.t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, func() string { mu.Lock(); defer mu.Unlock(); return buf.String() }
}

func (s *setup) appendLines(lines ...string) {
	s.t.Helper()
	f, err := os.OpenFile(s.logPath, os.O_APPEND|os.O_WRONLY, 0)
	must(s.t, err)
	defer f.Close()
	_, err = io.WriteString(f, strings.Join(lines, "\n")+"\n")
	must(s.t, err)
}

func knockLine(p *profile.Profile, counter uint32, port uint16, src netip.Addr) string {
	f := knock.Encode(&p.Keys, counter, port)
	pkt := kernlog.Packet{Src: src, DstPort: p.KnockPort, ID: f.ID, Seq: f.Seq, Ack: f.Ack, Window: f.Window}
	return kernlog.FormatSyslog(time.Now(), "kkhost", "REJECT ", pkt)
}

func (s *setup) opens(src netip.Addr) int {
	n := 0
	for _, r := range s.fake.Requests() {
		if r.IP == src {
			n++
		}
	}
	return n
}

func waitUntil(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out after %v waiting for %s", d, what)
}

// knockUntilOpen repeats fresh knocks for p until one opens: the monitor
// starts at the end of the log, so the first may come before it is ready.
func (s *setup) knockUntilOpen(p *profile.Profile, counter *uint32, src netip.Addr) {
	s.t.Helper()
	for i := 0; i < 100; i++ {
		s.appendLines(knockLine(p, *counter, 22, src))
		*counter++
		for j := 0; j < 20; j++ {
			if s.opens(src) > 0 {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	s.t.Fatalf("no knock from %s opened", src)
}

func TestSIGHUPAddsProfile(t *testing.T) {
	s := newSetup(t)
	web, err := profile.Generate(s.profiles, "web", 4444)
	must(t, err)
	cmd, logs := s.start()
	var webCounter uint32
	s.knockUntilOpen(web, &webCounter, netip.MustParseAddr("192.0.2.1"))

	ssh, err := profile.Generate(s.profiles, "ssh", 5555)
	must(t, err)
	must(t, cmd.Process.Signal(syscall.SIGHUP))
	waitUntil(t, "reload", 20*time.Second, func() bool {
		return strings.Count(logs(), `msg="configuration loaded"`) == 2
	})
	src := netip.MustParseAddr("192.0.2.2")
	s.appendLines(knockLine(ssh, 0, 22, src))
	waitUntil(t, "open by the profile added on SIGHUP", 20*time.Second, func() bool { return s.opens(src) == 1 })
	if !strings.Contains(logs(), "profiles=\"[ssh:5555 web:4444]\"") {
		t.Errorf("reload did not load both profiles:\n%s", logs())
	}
}

func TestRefusesRootWithoutFlag(t *testing.T) {
	if os.Geteuid() != 0 {
		nstest.Unavailable(t, "only meaningful as root")
	}
	out, err := exec.Command(binary, "--profiles", t.TempDir(), "--log", "/dev/null").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--allow-root") {
		t.Fatalf("ran as root without --allow-root: %v\n%s", err, out)
	}
}
