package main

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/kk-project/kk/internal/nstest"

	"github.com/kk-project/kk/pkg/check"
	"github.com/kk-project/kk/pkg/profile"
)

// kkMonitor runs the built binary and returns its stdout, stderr and exit
// status.
func kkMonitor(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("kk-monitor %v: %v", args, err)
	}
	return o.String(), e.String(), code
}

// TestStatusOfRealProfiles: profiles made by genprofile, one v2 with
// allowed ports and one damaged, before and after kk-monitor took them over
// and accepted a knock; plain and JSON; no key in either.
func TestStatusOfRealProfiles(t *testing.T) {
	s := newSetup(t)
	for _, args := range [][]string{{"666", "alice"}, {"--v2", "--allow-ports", "443,22", "667", "bob"}, {"668", "carol"}} {
		if out, errOut, code := kkMonitor(t, append([]string{"genprofile", "--profiles", s.profiles}, args...)...); code != 0 {
			t.Fatalf("genprofile %v: %d\n%s%s", args, code, out, errOut)
		}
	}
	carolMAC := filepath.Join(s.profiles, "carol", profile.MACKeyFile)
	must(t, os.WriteFile(carolMAC, []byte("not base64 at all\n"), 0))
	status := []string{"status", "--config", s.config, "--profiles", s.profiles, "--state", s.state}

	out, errOut, code := kkMonitor(t, status...)
	if code != 1 || !strings.Contains(errOut, "see the BROKEN") {
		t.Errorf("status with a damaged profile exited %d, stderr %q; want 1", code, errOut)
	}
	for _, want := range []string{
		"config      " + s.config + "\n",
		"state dir   " + s.state + "\n",
		"profile alice: knock port 666, v1, counter 0 (the profile's own " + filepath.Join(s.profiles, "alice", "counter") +
			", which kk-monitor takes over at its next start or reload), allowed ports: any\n",
		"profile bob: knock port 667, v2, counter 0 (the profile's own", "allowed ports: 22, 443\n",
		"profile carol: BROKEN: " + carolMAC + ": corrupt profile file: not valid base64; fix: copy " + carolMAC + " back",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "log source  ") {
		t.Errorf("status does not say which log source:\n%s", out)
	}

	// kk-monitor takes the counters over and accepts alice's knock 0.
	alice, err := profile.LoadServer(filepath.Join(s.profiles, "alice"), t.TempDir())
	must(t, err)
	s.appendLines(knockLine(alice, 0, 22, netip.MustParseAddr("192.0.2.7")))
	daemon, logs := s.start("--from-start", "--exit-at-eof")
	if err := daemon.Wait(); err != nil {
		t.Fatalf("kk-monitor --exit-at-eof: %v\n%s", err, logs())
	}
	if !strings.Contains(logs(), `msg="kk-monitor started" version=`) || !strings.Contains(logs(), "config="+s.config+" log="+s.logPath) {
		t.Errorf("kk-monitor did not log its version, config and log source at start:\n%s", logs())
	}

	out, _, code = kkMonitor(t, append(status, "--json")...)
	if code != 1 {
		t.Errorf("status --json exited %d, want 1 for carol", code)
	}
	var r check.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	if len(r.Profiles) != 3 {
		t.Fatalf("status --json lists %d profiles, want 3:\n%s", len(r.Profiles), out)
	}
	a, b, c := r.Profiles[0], r.Profiles[1], r.Profiles[2]
	if a.Name != "alice" || a.KnockPort != 666 || a.Version != 1 || a.Counter == nil || *a.Counter != 1 ||
		a.CounterSource != check.CounterState || a.CounterFile != filepath.Join(s.state, "alice", "counter") || a.AllowedPorts != nil {
		t.Errorf("alice = %+v, want counter 1 from the state counter", a)
	}
	if b.Name != "bob" || b.Version != 2 || b.Counter == nil || *b.Counter != 0 || b.CounterSource != check.CounterState ||
		len(b.AllowedPorts) != 2 || b.AllowedPorts[0] != 22 || b.AllowedPorts[1] != 443 {
		t.Errorf("bob = %+v, want v2, counter 0 taken over, ports 22 and 443", b)
	}
	if c.Name != "carol" || c.KnockPort != 668 || !strings.Contains(c.Error, carolMAC) || c.Fix == "" || c.Counter != nil {
		t.Errorf("carol = %+v, want the error naming %s and a fix", c, carolMAC)
	}

	plain, _, _ := kkMonitor(t, status...)
	for _, p := range []string{"alice", "bob"} {
		for _, f := range []string{profile.CipherKeyFile, profile.MACKeyFile} {
			key, err := os.ReadFile(filepath.Join(s.profiles, p, f))
			must(t, err)
			if k := strings.TrimSpace(string(key)); strings.Contains(out, k) || strings.Contains(plain, k) {
				t.Errorf("status shows %s's %s", p, f)
			}
		}
	}
	if !strings.Contains(plain, "profile alice: knock port 666, v1, counter 1 (kk-monitor's state counter "+
		filepath.Join(s.state, "alice", "counter")+")") {
		t.Errorf("status after the knock:\n%s", plain)
	}

	// Without carol, nothing is broken.
	must(t, os.RemoveAll(filepath.Join(s.profiles, "carol")))
	if out, errOut, code := kkMonitor(t, status...); code != 0 {
		t.Errorf("status with good profiles exited %d:\n%s%s", code, out, errOut)
	}
}

// TestOriginalNames: the binary run as knockknock-genprofile is genprofile
// and as knockknock-daemon the daemon, as the original's commands were.
func TestOriginalNames(t *testing.T) {
	s := newSetup(t)
	dir := t.TempDir()
	for _, name := range []string{"knockknock-genprofile", "knockknock-daemon"} {
		must(t, os.Symlink(binary, filepath.Join(dir, name)))
	}
	out, err := exec.Command(filepath.Join(dir, "knockknock-genprofile"), "--profiles", s.profiles, "4321", "laptop").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Created profile laptop with knock port 4321.") {
		t.Fatalf("knockknock-genprofile: %v\n%s", err, out)
	}
	p, err := profile.LoadServer(filepath.Join(s.profiles, "laptop"), s.state)
	if err != nil || p.KnockPort != 4321 {
		t.Fatalf("the profile knockknock-genprofile made: %v, %v", p, err)
	}

	src := netip.MustParseAddr("192.0.2.9")
	s.appendLines(knockLine(p, 0, 22, src))
	daemon := exec.Command(filepath.Join(dir, "knockknock-daemon"), "--config", s.config, "--profiles", s.profiles,
		"--state", s.state, "--log", s.logPath, "--socket", s.sock, "--allow-root", "--from-start", "--exit-at-eof")
	var stderr bytes.Buffer
	daemon.Stderr = &stderr
	out, err = daemon.Output()
	if err != nil || !strings.Contains(string(out), "accepted=1 opened=1") || s.opens(src) != 1 {
		t.Fatalf("knockknock-daemon: %v, opens %d\n%s%s", err, s.opens(src), out, stderr.String())
	}
	// Its --help is the daemon's usage, not genprofile's or the whole page.
	out, err = exec.Command(filepath.Join(dir, "knockknock-daemon"), "--help").Output()
	if err != nil || !strings.Contains(string(out), "kk-monitor [run] [--allow-root]") || strings.Contains(string(out), "genprofile") {
		t.Errorf("knockknock-daemon --help: %v\n%s", err, out)
	}
}

// TestStatusAsAnotherUser: run by a user who may not read the profiles,
// status says NOT READ and how to run it, not that the profile is broken;
// run as kk-monitor's own user it reads them as kk-monitor does.
func TestStatusAsAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		nstest.Unavailable(t, "needs root to run status as other users")
	}
	s := newSetup(t)
	if out, err := exec.Command(binary, "genprofile", "--profiles", s.profiles, "666", "alice").CombinedOutput(); err != nil {
		t.Fatalf("genprofile: %v\n%s", err, out)
	}
	// The other users must reach the setup and the binary (TestMain's
	// directory is root's alone).
	must(t, os.Chmod(filepath.Dir(s.dir), 0o755))
	must(t, os.Chmod(s.dir, 0o755))
	bin := filepath.Join(s.dir, "kk-monitor")
	data, err := os.ReadFile(binary)
	must(t, err)
	must(t, os.WriteFile(bin, data, 0o755))
	status := []string{"status", "--config", s.config, "--profiles", s.profiles, "--state", s.state}
	as := func(uid, gid uint32) (string, int) {
		cmd := exec.Command(bin, status...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
		out, err := cmd.Output()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}
	out, code := as(65534, 65534)
	if code != 1 || !strings.Contains(out, "profile alice: NOT READ: ") ||
		!strings.Contains(out, "fix: run kk-monitor status as root or as knockknock") || strings.Contains(out, "BROKEN") {
		t.Errorf("status as nobody exited %d:\n%s", code, out)
	}
	u, err := user.Lookup(profile.OwnerUser)
	if err != nil {
		t.Logf("NOT CHECKED: status as %s: no such user here (systemd-sysusers knockknock.conf creates it)", profile.OwnerUser)
		return
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	must(t, os.Chown(s.state, uid, gid))
	if g, err := user.LookupGroupId(u.Gid); err != nil || g.Name != profile.OwnerUser {
		t.Logf("NOT CHECKED: status as %s: its primary group is not %s", profile.OwnerUser, profile.OwnerUser)
		return
	}
	out, code = as(uint32(uid), uint32(gid))
	if code != 0 || !strings.Contains(out, "profile alice: knock port 666, v1, counter 0") {
		t.Errorf("status as %s exited %d:\n%s", profile.OwnerUser, code, out)
	}
}
