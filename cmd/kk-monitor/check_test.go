package main

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/kk-project/kk/internal/nstest"
	"github.com/kk-project/kk/pkg/config"
	"github.com/kk-project/kk/pkg/firewall"
	"github.com/kk-project/kk/pkg/fwrpc"
	"github.com/kk-project/kk/pkg/profile"
	fwpb "github.com/kk-project/kk/proto/knockknock/firewall/v1"
)

func TestCheckTakesNoArguments(t *testing.T) {
	if err := run([]string{"check", "now"}); !errors.Is(err, errUsage) {
		t.Fatalf("check now: %v, want a usage error", err)
	}
}

func TestCheckCommand(t *testing.T) {
	def := flags{config: config.DefaultPath, profiles: config.DefaultProfilesDir,
		check: checkFlags{user: profile.OwnerUser, groups: "adm"}}
	custom := def
	custom.config, custom.socket, custom.check.user, custom.check.groups = "/tmp/my config", "/run/fw.sock", "kkh3lab", ""
	tests := []struct {
		f    flags
		want string
	}{
		{def, "kk-monitor check"},
		{custom, "kk-monitor check --config '/tmp/my config' --socket /run/fw.sock --user kkh3lab --groups ''"},
	}
	for _, tt := range tests {
		if got := checkCommand(tt.f); got != tt.want {
			t.Errorf("got  %s\nwant %s", got, tt.want)
		}
	}
}

// checkSetup is a config, one profile, a kern.log and a kk-firewall
// stand-in with a health service, for the check run as the test's user.
type checkSetup struct {
	dir, config, profiles, sock string
}

func newCheckSetup(t *testing.T) *checkSetup {
	t.Helper()
	dir := t.TempDir()
	s := &checkSetup{dir: dir, config: filepath.Join(dir, "config"), profiles: filepath.Join(dir, "profiles"),
		sock: filepath.Join(dir, "fw.sock")}
	log := filepath.Join(dir, "kern.log")
	must(t, os.WriteFile(log, nil, 0o640))
	must(t, os.WriteFile(s.config, []byte(fmt.Sprintf("[main]\nlog_source = file\nlog_file = %s\nsocket = %s\nstate_dir = %s\n",
		log, s.sock, filepath.Join(dir, "state"))), 0o644))
	if _, err := profile.Generate(s.profiles, "lab", 6666); err != nil {
		t.Fatal(err)
	}
	must(t, filepath.Walk(s.profiles, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(p, os.Getuid(), os.Getgid()) // Generate may have given it to knockknock
	}))
	l, err := net.Listen("unix", s.sock)
	must(t, err)
	srv := fwrpc.NewServer(&firewall.Fake{}, fwrpc.WithLogger(slog.New(slog.DiscardHandler)))
	hs := health.NewServer()
	hs.SetServingStatus(fwpb.Firewall_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	go srv.Serve(l)
	t.Cleanup(srv.Stop)
	return s
}

// check runs the kk-monitor binary's check in ns (nil: here) and returns
// its stdout, stderr and exit code.
func (s *checkSetup) check(t *testing.T, ns *nstest.NS, extra ...string) (stdout, stderr string, code int) {
	t.Helper()
	args := append([]string{binary, "check", "--config", s.config, "--profiles", s.profiles, "--user", "root", "--groups", ""}, extra...)
	if ns != nil {
		args = append([]string{"ip", "netns", "exec", ns.Name}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// TestCheckExitStatus runs kk-monitor check in a network namespace holding
// the shipped rules: all OK and exit 0, then, with the knock port's LOG
// rule deleted, a FAIL line with the fix, the count on stderr and exit 1.
func TestCheckExitStatus(t *testing.T) {
	ns := nstest.New(t, "mck")
	s := newCheckSetup(t)
	ns.Run(t, "sh", "../../firewall/knockknock-firewall.sh", "-4", "-k", "6666", "start")

	out, errOut, code := s.check(t, ns)
	// In a namespace of its own the check cannot see nf_log_all_netns: its
	// one WARN says so.
	if code != 0 || errOut != "" || strings.Count("\n"+out, "\nOK    ") != 7 || strings.Contains(out, "FAIL") ||
		strings.Count(out, "WARN") != 1 || !strings.Contains(out, "WARN  net.netfilter.nf_log_all_netns: not checked") {
		t.Fatalf("working setup: exit %d, stderr %q, stdout:\n%s", code, errOut, out)
	}

	ns.Run(t, "iptables", "-D", "KK_KNOCKLOG", "1")
	out, errOut, code = s.check(t, ns)
	want := "FAIL  LOG rule for knock port 6666 (profile lab): a SYN to port 6666 meets no LOG rule"
	if code != 1 || errOut != "kk-monitor: 1 of 8 checks failed\n" || !strings.Contains(out, want) ||
		!strings.Contains(out, "fix: knockknock-firewall.sh start") {
		t.Fatalf("LOG rule deleted: exit %d, stderr %q, stdout:\n%s", code, errOut, out)
	}
}

// TestCheckDeadSocket points the check at a socket path nothing serves:
// the socket and kk-firewall lines fail with the fix, and it exits 1. It
// has no profile, so it reads no iptables rules and runs anywhere.
func TestCheckDeadSocket(t *testing.T) {
	s := newCheckSetup(t)
	must(t, os.RemoveAll(filepath.Join(s.profiles, "lab")))
	dead := filepath.Join(s.dir, "dead.sock")
	out, errOut, code := s.check(t, nil, "--socket", dead, "--user", currentUser(t))
	for _, want := range []string{
		"FAIL  profiles " + s.profiles + ": no profile, so no knock is accepted; fix: kk-monitor genprofile",
		"FAIL  socket " + dead + ": does not exist; fix: systemctl start kk-firewall.socket",
		"FAIL  kk-firewall on " + dead + ": not reached: no socket; fix: systemctl start kk-firewall.socket",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if code != 1 || !strings.HasSuffix(errOut, "checks failed\n") {
		t.Errorf("exit %d, stderr %q; want 1 and the count", code, errOut)
	}
}

func currentUser(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("id", "-un").Output()
	must(t, err)
	return strings.TrimSpace(string(out))
}
