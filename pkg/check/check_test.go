package check

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/kk-project/kk/pkg/firewall"
	"github.com/kk-project/kk/pkg/fwrpc"
	"github.com/kk-project/kk/pkg/profile"
	fwpb "github.com/kk-project/kk/proto/knockknock/firewall/v1"
)

func TestResultString(t *testing.T) {
	tests := []struct {
		r    Result
		want string
	}{
		{ok("socket %s: fine", "/s"), "OK    socket /s: fine"},
		{Result{Status: Warn, What: "LOG rules", Why: "not checked", Fix: "run sudo kk-monitor check"},
			"WARN  LOG rules: not checked; fix: run sudo kk-monitor check"},
		{Result{Status: Fail, What: "socket /s", Why: "does not exist", Fix: "systemctl start kk-firewall.socket"},
			"FAIL  socket /s: does not exist; fix: systemctl start kk-firewall.socket"},
		{Result{Status: Fail, What: "x", Why: "broken"}, "FAIL  x: broken"},
	}
	for _, tt := range tests {
		if got := tt.r.String(); got != tt.want {
			t.Errorf("got  %q\nwant %q", got, tt.want)
		}
	}
}

// A testEnv is a complete kk-monitor setup in a temporary directory: a
// config, one profile, a kern.log and a kk-firewall stand-in serving the
// health service on a unix socket. Its Options read iptables from a
// testdata file, so nothing touches the host's rules.
type testEnv struct {
	dir, config, profiles, log, sock string
	health                           *health.Server
	rules                            string // testdata name
	netAdmin                         bool
	override                         bool   // pass --log and --socket
	logAllNetns                      string // net.netfilter.nf_log_all_netns
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	dir := t.TempDir()
	e := &testEnv{dir: dir, config: filepath.Join(dir, "config"), profiles: filepath.Join(dir, "profiles"),
		log: filepath.Join(dir, "kern.log"), sock: filepath.Join(dir, "fw.sock"), rules: "shipped", netAdmin: true,
		logAllNetns: "0"}
	if _, err := profile.Generate(e.profiles, "lab", 6666); err != nil {
		t.Fatal(err)
	}
	chownTree(t, e.profiles)
	must(t, os.WriteFile(e.log, nil, 0o640))
	must(t, os.WriteFile(e.config, []byte(fmt.Sprintf("[main]\nlog_source = file\nlog_file = %s\nlog_prefix = \"REJECT \"\nsocket = %s\n",
		e.log, e.sock)), 0o644))
	e.health = serveFirewall(t, e.sock)
	return e
}

// serveFirewall serves a fake firewall with a health service, as
// kk-firewall does, on sock.
func serveFirewall(t *testing.T, sock string) *health.Server {
	t.Helper()
	l, err := net.Listen("unix", sock)
	must(t, err)
	s := fwrpc.NewServer(&firewall.Fake{}, fwrpc.AllowUIDs(uint32(os.Getuid())))
	hs := health.NewServer()
	hs.SetServingStatus(fwpb.Firewall_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(s, hs)
	go s.Serve(l)
	t.Cleanup(s.Stop)
	return hs
}

// chownTree gives dir to the test's user: as root, Generate hands profiles
// to a knockknock user if one exists.
func chownTree(t *testing.T, dir string) {
	t.Helper()
	must(t, filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(p, os.Getuid(), os.Getgid())
	}))
}

func (e *testEnv) run(t *testing.T) (string, Summary) {
	t.Helper()
	u, err := user.Current()
	must(t, err)
	data, err := os.ReadFile(filepath.Join("testdata", "iptables-S-"+e.rules+".txt"))
	must(t, err)
	opts := Options{
		ConfigPath: e.config, ProfilesDir: e.profiles, User: u.Username, Timeout: 2 * time.Second,
		IPTables: &fakeLister{text: string(data)}, NetAdmin: func() bool { return e.netAdmin },
		ReadSysctl: func(string) ([]byte, error) { return []byte(e.logAllNetns + "\n"), nil },
	}
	if e.override {
		opts.LogFile, opts.Socket = e.log, e.sock
	}
	var out strings.Builder
	sum, err := Run(context.Background(), opts, &out)
	must(t, err)
	return out.String(), sum
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestRunAllOK(t *testing.T) {
	e := newTestEnv(t)
	out, sum := e.run(t)
	want := []string{
		"OK    config " + e.config + ` loads (log_prefix "REJECT ")`,
		"OK    user ",
		"OK    profile lab: knock port 6666",
		`OK    LOG rule for knock port 6666 (profile lab): a SYN reaches KK_KNOCKLOG's LOG --log-prefix "REJECT ", limited per source`,
		"OK    net.netfilter.nf_log_all_netns = 0: ",
		"OK    log source file " + e.log + " (log_source = file): ",
		"OK    socket " + e.sock + ": ",
		"OK    kk-firewall on " + e.sock + ": SERVING, asked as ",
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(want) || sum != (Summary{OK: len(want)}) {
		t.Fatalf("summary %+v, %d lines, want %d OK lines:\n%s", sum, len(lines), len(want), out)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d:\n got %s\nwant %s...", i+1, lines[i], w)
		}
	}
}

func TestRunBroken(t *testing.T) {
	tests := []struct {
		name  string
		spoil func(t *testing.T, e *testEnv)
		want  Summary
		line  string // the line that says so
	}{
		{"no CAP_NET_ADMIN", func(t *testing.T, e *testEnv) { e.netAdmin = false }, Summary{OK: 7, Warn: 1},
			"WARN  LOG rules for the knock ports: not checked: reading iptables needs root (CAP_NET_ADMIN); fix: run sudo kk-monitor check"},
		{"knock LOG rule removed", func(t *testing.T, e *testEnv) { e.rules = "no-knock-log" }, Summary{OK: 7, Fail: 1},
			"FAIL  LOG rule for knock port 6666 (profile lab): a SYN to port 6666 meets no LOG rule"},
		{"wrong prefix", func(t *testing.T, e *testEnv) { e.rules = "other-prefix" }, Summary{OK: 7, Fail: 1},
			`fix: make the two agree: log_prefix = "DROP " in `},
		{"kk-firewall down", func(t *testing.T, e *testEnv) { deadSocket(t, e.sock) }, Summary{OK: 7, Fail: 1},
			"FAIL  kk-firewall on @SOCK@: as "},
		{"kk-firewall not serving", func(t *testing.T, e *testEnv) {
			e.health.SetServingStatus(fwpb.Firewall_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_NOT_SERVING)
		}, Summary{OK: 7, Fail: 1}, "NOT_SERVING; fix: systemctl start kk-firewall.socket"},
		{"no socket", func(t *testing.T, e *testEnv) { must(t, os.Remove(e.sock)) }, Summary{OK: 6, Fail: 2},
			"FAIL  socket @SOCK@: does not exist; fix: systemctl start kk-firewall.socket"},
		{"no kern.log", func(t *testing.T, e *testEnv) { must(t, os.Remove(e.log)) }, Summary{OK: 7, Fail: 1},
			"does not exist, so no knock can be read; fix: install rsyslog"},
		{"bad config, --log and --socket", func(t *testing.T, e *testEnv) {
			must(t, os.WriteFile(e.config, []byte("[main]\ndelay = never\n"), 0o644))
			e.override = true
		}, Summary{OK: 7, Fail: 1}, "delay = \"never\": must be a whole number from 1 to 3600 (kk-monitor will not start)"},
		{"--log overrides", func(t *testing.T, e *testEnv) { e.override = true }, Summary{OK: 8}, "(--log @LOG@): "},
		{"LOG in every namespace", func(t *testing.T, e *testEnv) { e.logAllNetns = "1" }, Summary{OK: 7, Warn: 1},
			"WARN  net.netfilter.nf_log_all_netns = 1: LOG rules in every network namespace write to the kernel log, so a local user who may create a user namespace (unshare -Urn)"},
		{"auto without the log file", func(t *testing.T, e *testEnv) {
			must(t, os.WriteFile(e.config, []byte("[main]\nlog_source = auto\nlog_file = @LOG@.gone\nsocket = @SOCK@\n"), 0o644))
			e.fill(t, e.config)
		}, Summary{}, "log source journald (auto: @LOG@.gone does not exist)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			tt.spoil(t, e)
			out, sum := e.run(t)
			if sum != tt.want && tt.want != (Summary{}) {
				t.Errorf("summary %+v, want %+v:\n%s", sum, tt.want, out)
			}
			if line := strings.NewReplacer("@SOCK@", e.sock, "@LOG@", e.log).Replace(tt.line); !strings.Contains(out, line) {
				t.Errorf("output lacks %q:\n%s", line, out)
			}
		})
	}
}

// fill replaces @SOCK@ and @LOG@ in the file at path with the env's paths.
func (e *testEnv) fill(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	must(t, err)
	data = []byte(strings.NewReplacer("@SOCK@", e.sock, "@LOG@", e.log).Replace(string(data)))
	must(t, os.WriteFile(path, data, 0o644))
}

// deadSocket replaces sock with a socket nobody accepts on, as a stopped
// kk-firewall.socket leaves behind when something removed its listener.
func deadSocket(t *testing.T, sock string) {
	t.Helper()
	must(t, os.Remove(sock))
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	must(t, err)
	l.SetUnlinkOnClose(false)
	must(t, l.Close())
}
