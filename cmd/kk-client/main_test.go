package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kk-project/kk/pkg/profile"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
	buildDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// kkClient builds kk-client once per test run and returns its absolute path.
func kkClient(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "kk-client-test")
		if buildErr != nil {
			return
		}
		// World-readable, so the binary can also run as an unprivileged user.
		os.Chmod(buildDir, 0o755)
		builtBin = filepath.Join(buildDir, "kk-client")
		goBin, err := exec.LookPath("go")
		if err != nil {
			goBin = "/usr/local/go/bin/go"
		}
		out, err := exec.Command(goBin, "build", "-buildvcs=false", "-o", builtBin, ".").CombinedOutput()
		if err != nil {
			buildErr = errors.New("go build: " + err.Error() + "\n" + string(out))
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// result is what a run of kk-client left behind.
type result struct {
	code           int
	stdout, stderr string
}

// runCLI runs the built kk-client with args, bounded by a timeout.
func runCLI(t testing.TB, prefix []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	argv := append(append(append([]string{}, prefix...), kkClient(t)), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("running %v: %v", argv, err)
	}
	return result{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
}

// newProfile creates a profile named name in a fresh directory and returns
// it.
func newProfile(t testing.TB, name string, knockPort int) *profile.Profile {
	t.Helper()
	p, err := profile.GenerateForGroup(t.TempDir(), name, knockPort, -1) // as the user holds it: 0600
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func counter(t testing.TB, p *profile.Profile) uint64 {
	t.Helper()
	c, err := p.Counter()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCLIErrors runs every error case of the knock command and checks the
// exit code and that the message names the fix. None of them may spend a
// counter.
func TestCLIErrors(t *testing.T) {
	p := newProfile(t, "server.example", 666)
	incomplete := newProfile(t, "incomplete", 667)
	os.Remove(filepath.Join(incomplete.Dir, profile.MACKeyFile))
	corrupt := newProfile(t, "corrupt", 668)
	os.WriteFile(filepath.Join(corrupt.Dir, profile.CipherKeyFile), []byte("not base64!\n"), 0o600)
	missing := filepath.Join(t.TempDir(), "nothing-here")

	cases := []struct {
		name string
		args []string
		code int
		want []string // substrings of stderr
	}{
		{"no arguments", nil, 2, []string{"kk-client: -s <host> is required", "usage:\n  kk-client -p PORT -s HOST"}},
		{"no port", []string{"-s", "127.0.0.1", "-d", p.Dir}, 2, []string{"-p <portToOpen> is required", "usage:"}},
		{"no host", []string{"-p", "22", "-d", p.Dir}, 2, []string{"-s <host> is required", "usage:"}},
		{"unknown flag", []string{"-x", "-p", "22", "-s", "h"}, 2, []string{"-x", "usage:"}},
		{"port not a number", []string{"-p", "ssh", "-s", "127.0.0.1"}, 2, []string{"-p", "usage:"}},
		{"extra argument", []string{"-p", "22", "-s", "127.0.0.1", "now"}, 2, []string{`host given twice, -s "127.0.0.1" and "now"`, "usage:"}},
		{"port zero", []string{"-p", "0", "-s", "127.0.0.1", "-d", p.Dir}, 2, []string{"-p 0", "between 1 and 65535"}},
		{"port too big", []string{"-p", "65536", "-s", "127.0.0.1", "-d", p.Dir}, 2, []string{"-p 65536", "between 1 and 65535"}},
		{"port negative", []string{"-p", "-1", "-s", "127.0.0.1", "-d", p.Dir}, 2, []string{"-p -1", "between 1 and 65535"}},
		{"host does not resolve", []string{"-p", "22", "-s", "no-such-host.invalid", "-d", p.Dir}, 1,
			[]string{`resolving host "no-such-host.invalid"`, "check the name given with -s"}},
		{"-4 to an IPv6-only host", []string{"-4", "-p", "22", "-s", "::1", "-d", p.Dir}, 1,
			[]string{`host "::1" resolves to [::1], none of them IPv4`, "drop -4/-6 or give another address with -s"}},
		{"-6 to an IPv4-only host", []string{"-6", "-p", "22", "-s", "127.0.0.1", "-d", p.Dir}, 1,
			[]string{"none of them IPv6"}},
		{"-4 and -6", []string{"-4", "-6", "-p", "22", "-s", "::1", "-d", p.Dir}, 2,
			[]string{"-4 and -6 exclude each other", "usage:"}},
		{"profile directory missing", []string{"-p", "22", "-s", "myserver.example", "-d", missing}, 1,
			[]string{missing + " does not exist", "scp root@myserver.example:/etc/knockknock.d/profiles/<profileName>/* " + missing + "/"}},
		{"profile file missing", []string{"-p", "22", "-s", "myserver.example", "-d", incomplete.Dir}, 1,
			[]string{filepath.Join(incomplete.Dir, "mac.key") + " is missing", "scp root@myserver.example:/etc/knockknock.d/profiles/<profileName>/* " + incomplete.Dir + "/"}},
		{"profile file corrupt", []string{"-p", "22", "-s", "127.0.0.1", "-d", corrupt.Dir}, 1,
			[]string{filepath.Join(corrupt.Dir, "cipher.key"), "not valid base64"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, nil, tc.args...)
			checkResult(t, r, tc.code, tc.want)
		})
	}
	if c := counter(t, p); c != 0 {
		t.Errorf("counter is %d after only failed knocks, want 0: a failed knock spent a counter", c)
	}
}

// TestCLIDefaultProfileDir checks that without -d the profile is looked up
// in ~/.knockknock/<host>/ and the scp line says so.
func TestCLIDefaultProfileDir(t *testing.T) {
	home := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, kkClient(t), "-p", "22", "-s", "127.0.0.1")
	cmd.Env = append(os.Environ(), "HOME="+home)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("err %v, want exit 1; output:\n%s", err, out)
	}
	want := "mkdir -p ~/.knockknock/127.0.0.1 && scp root@127.0.0.1:/etc/knockknock.d/profiles/<profileName>/* ~/.knockknock/127.0.0.1/"
	if !strings.Contains(string(out), want) || !strings.Contains(string(out), filepath.Join(home, ".knockknock", "127.0.0.1")) {
		t.Errorf("output does not name the default directory and %q:\n%s", want, out)
	}
}

// TestCLINoCapability runs the knock without CAP_NET_RAW: as an ordinary
// user directly, as root with the capability removed from the bounding set.
func TestCLINoCapability(t *testing.T) {
	p := newProfile(t, "capless", 669)
	var prefix []string
	if os.Geteuid() == 0 {
		if _, err := exec.LookPath("setpriv"); err != nil {
			t.Fatal("setpriv (util-linux) is needed to drop CAP_NET_RAW as root: apt-get install util-linux")
		}
		prefix = []string{"setpriv", "--bounding-set=-net_raw", "--inh-caps=-net_raw", "--"}
	}
	r := runCLI(t, prefix, "-p", "22", "-s", "127.0.0.1", "-d", p.Dir)
	checkResult(t, r, 3, []string{"CAP_NET_RAW", "run it as root", "setcap cap_net_raw+ep " + kkClient(t)})
	if c := counter(t, p); c != 0 {
		t.Errorf("counter is %d after a knock without the capability, want 0", c)
	}
	r = runCLI(t, prefix, "proxy", "0", "--dir", filepath.Dir(p.Dir))
	checkResult(t, r, 3, []string{"CAP_NET_RAW", "setcap cap_net_raw+ep " + kkClient(t)})
}

func TestCLIProxyUsage(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no port", []string{"proxy"}, "want exactly one <listenPort>"},
		{"two ports", []string{"proxy", "1080", "1081"}, "want exactly one <listenPort>"},
		{"port not a number", []string{"proxy", "socks"}, `listen port "socks" must be a number between 0 and 65535`},
		{"port too big", []string{"proxy", "70000"}, `listen port "70000" must be a number between 0 and 65535`},
		{"zero attempts", []string{"proxy", "1080", "--attempts", "0"}, "--attempts 0 must be at least 1"},
		{"negative wait", []string{"proxy", "--wait", "-1s", "1080"}, "--wait must not be negative"},
		{"bad wait", []string{"proxy", "1080", "--wait", "soon"}, "--wait"},
		{"unknown flag", []string{"proxy", "--listen", "0.0.0.0", "1080"}, "-listen"},
		{"delay too short", []string{"proxy", "--delay", "100ms", "1080"}, "--delay 100ms must be between 1s and 1h"},
		{"unix socket and two ports", []string{"proxy", "--unix", "/tmp/s", "1080", "1081"}, "want exactly one <listenPort>"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, nil, tc.args...)
			checkResult(t, r, 2, []string{tc.want, "usage:"})
		})
	}
}

func checkResult(t *testing.T, r result, code int, want []string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit code %d, want %d\nstderr:\n%s", r.code, code, r.stderr)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr does not contain %q:\n%s", w, r.stderr)
		}
	}
	if strings.Contains(r.stdout, "Knock sent.") {
		t.Errorf("stdout says %q on failure", r.stdout)
	}
}
