package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kk-project/kk/internal/nstest"
)

// A cliResult is what one run of the built kk-firewall printed and its exit
// status.
type cliResult struct {
	stdout, stderr string
	code           int
}

func (r cliResult) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// runCLI runs the built kk-firewall with args, as cred when it is not nil.
func runCLI(t *testing.T, cred *syscall.Credential, args ...string) cliResult {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	err := cmd.Run()
	r := cliResult{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("running kk-firewall %v: %v", args, err)
	}
	return r
}

// listJSON is list --json's output as the manual documents it.
type listJSON struct {
	Openings []struct {
		SourceIP    string    `json:"source_ip"`
		Family      string    `json:"family"`
		Protocol    string    `json:"protocol"`
		Port        uint16    `json:"port"`
		Profile     string    `json:"profile"`
		Deadline    time.Time `json:"deadline"`
		SecondsLeft int64     `json:"seconds_left"`
	} `json:"openings"`
}

func TestListAndRevokeCommands(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	sock := filepath.Join(socketDir(t), "fw.sock")
	h := startHelper(t, l.srv, sock)
	if r := runCLI(t, nil, "list", "--socket", sock); r.code != 0 || r.stdout != "no openings\n" {
		t.Fatalf("list with nothing open:\n%s", r)
	}
	if r := runCLI(t, nil, "list", "--json", "--socket", sock); r.code != 0 || strings.Join(strings.Fields(r.stdout), "") != `{"openings":[]}` {
		t.Fatalf("list --json with nothing open:\n%s", r)
	}
	c := h.client(t)
	a := open(t, c, l.allowed, l.port, 60*time.Second)
	b := open(t, c, l.other, l.port, 60*time.Second)
	v6 := open(t, c, l.allowed6, 22, 45*time.Second)

	r := runCLI(t, nil, "list", "--socket", sock)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 0 || len(lines) != 4 || !slices.Equal(strings.Fields(lines[0]), []string{"SOURCE", "FAMILY", "PROTO", "PORT", "PROFILE", "UNTIL", "(UTC)", "LEFT"}) {
		t.Fatalf("list: want a header and 3 openings:\n%s", r)
	}
	for i, want := range []struct {
		ip, family string
		port       uint16
		deadline   time.Time
	}{{l.allowed, "ipv4", l.port, a.Deadline}, {l.other, "ipv4", l.port, b.Deadline}, {l.allowed6, "ipv6", 22, v6.Deadline}} {
		f := strings.Fields(lines[i+1])
		wantFields := []string{want.ip, want.family, "tcp", strconv.Itoa(int(want.port)), "lab",
			want.deadline.UTC().Format(time.DateOnly), want.deadline.UTC().Format(time.TimeOnly)}
		if len(f) != 8 || !slices.Equal(f[:7], wantFields) {
			t.Errorf("list line %d = %q, want %q and the time left", i+1, f, wantFields)
			continue
		}
		if left, err := time.ParseDuration(f[7]); err != nil || left <= 0 || left > 62*time.Second { // deadlines are whole seconds, rounded up
			t.Errorf("list line %d: time left %q, want 0-62s", i+1, f[7])
		}
	}

	r = runCLI(t, nil, "list", "--socket", sock, "--json")
	var got listJSON
	if err := json.Unmarshal([]byte(r.stdout), &got); r.code != 0 || err != nil || len(got.Openings) != 3 {
		t.Fatalf("list --json: %v, want 3 openings:\n%s", err, r)
	}
	for i, o := range []struct {
		ip, family string
		port       uint16
		deadline   time.Time
	}{{l.allowed, "ipv4", l.port, a.Deadline}, {l.other, "ipv4", l.port, b.Deadline}, {l.allowed6, "ipv6", 22, v6.Deadline}} {
		g := got.Openings[i]
		if g.SourceIP != o.ip || g.Family != o.family || g.Protocol != "tcp" || g.Port != o.port || g.Profile != "lab" ||
			!g.Deadline.Equal(o.deadline) || g.SecondsLeft <= 0 || g.SecondsLeft > 62 {
			t.Errorf("list --json opening %d = %+v, want %s %s tcp %d lab %v", i, g, o.ip, o.family, o.port, o.deadline)
		}
	}

	// Revoke a, keep b: b still admits its address, so a's refusal is the
	// revoke's doing and not the lab's.
	ipv4 := chain(t, l.srv, "iptables")
	if len(ipv4) != 2 {
		t.Fatalf("iptables chain before revoke = %q, want 2 rules", ipv4)
	}
	r = runCLI(t, nil, "revoke", "--socket", sock, "--json", l.allowed, strconv.Itoa(int(l.port)))
	var revoked struct {
		Revoked struct {
			SourceIP string `json:"source_ip"`
			Family   string `json:"family"`
			Protocol string `json:"protocol"`
			Port     uint16 `json:"port"`
		} `json:"revoked"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &revoked); r.code != 0 || err != nil ||
		revoked.Revoked.SourceIP != l.allowed || revoked.Revoked.Port != l.port || revoked.Revoked.Family != "ipv4" || revoked.Revoked.Protocol != "tcp" {
		t.Fatalf("revoke --json: %v\n%s", err, r)
	}
	if after := chain(t, l.srv, "iptables"); !slices.Equal(after, []string{wantRule(l.other, l.port, b.Deadline, "lab")}) {
		t.Fatalf("iptables chain after revoking %s = %q, want only %s's rule", l.allowed, after, l.other)
	}
	if connects(t, l.cli, l.allowed, l.dst) {
		t.Error("a connection from the revoked address was admitted")
	}
	if !connects(t, l.cli, l.other, l.dst) {
		t.Error("the opening that was not revoked refused its address")
	}
	waitFor(t, 5*time.Second, "the helper's log of the revoke", func() bool {
		return strings.Contains(h.log.String(), "msg=revoked ip="+l.allowed)
	})

	r = runCLI(t, nil, "revoke", "--socket", sock, l.allowed, strconv.Itoa(int(l.port)))
	want := fmt.Sprintf("kk-firewall: kk-firewall has no opening for %s port %d (kk-firewall list shows the openings)\n", l.allowed, l.port)
	if r.code != exitNotFound || r.stderr != want || r.stdout != "" {
		t.Fatalf("revoke of a closed opening:\n%s\nwant exit 3 and %q", r, want)
	}
	r = runCLI(t, nil, "revoke", l.allowed6, "22", "--socket", sock)
	if r.code != 0 || r.stdout != "revoked "+l.allowed6+" port 22\n" {
		t.Fatalf("revoke of the IPv6 opening:\n%s", r)
	}
	if got := chain(t, l.srv, "ip6tables"); len(got) != 0 {
		t.Fatalf("ip6tables chain after revoke = %q", got)
	}
}

// socketGroupOfNobody is the group a helper run with --allow-user nobody
// gives its socket: nobody's primary group.
func socketGroupOfNobody(t *testing.T) (gid uint32, name string) {
	t.Helper()
	u, err := user.Lookup("nobody")
	if err != nil {
		nstest.Unavailable(t, "no user nobody: "+err.Error())
	}
	g, err := user.LookupGroupId(u.Gid)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.ParseUint(u.Gid, 10, 32)
	return uint32(n), g.Name
}

// TestWhoMayListAndRevoke runs the commands as a member of the socket's
// group (neither root nor --allow-user) and as an outsider, against a
// helper that lets nobody open ports and so gives the socket nobody's group.
func TestWhoMayListAndRevoke(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	sock := filepath.Join(socketDir(t), "fw.sock")
	h := startHelper(t, l.srv, sock, "--allow-user", "nobody")
	gid, group := socketGroupOfNobody(t)
	waitFor(t, 5*time.Second, "the helper's log of its version and of group "+group, func() bool {
		return strings.Contains(h.log.String(), "msg=starting version=") && strings.Contains(h.log.String(), "admin_group="+group)
	})
	o := open(t, h.client(t), l.allowed, l.port, 60*time.Second)
	member := &syscall.Credential{Uid: 4242, Gid: 4242, Groups: []uint32{gid}}
	outsider := &syscall.Credential{Uid: 4243, Gid: 4243, Groups: []uint32{}}

	r := runCLI(t, member, "list", "--socket", sock, "--json")
	var got listJSON
	if err := json.Unmarshal([]byte(r.stdout), &got); r.code != 0 || err != nil || len(got.Openings) != 1 || got.Openings[0].SourceIP != l.allowed {
		t.Fatalf("list as a member of group %s: %v\n%s", group, err, r)
	}
	if code := openAs(t, member, sock, l.other, l.port); code != "PermissionDenied" {
		t.Errorf("Open as a member of the socket's group: %s, want PermissionDenied", code)
	}
	waitFor(t, 5*time.Second, "the log of the member's refused Open", func() bool {
		return strings.Contains(h.log.String(), "the socket's group may only list, revoke and check health")
	})

	// The socket's mode keeps the outsider out.
	r = runCLI(t, outsider, "list", "--socket", sock)
	advice := fmt.Sprintf("run as root or add yourself to group %s", group)
	if r.code != exitPermission || !strings.Contains(r.stderr, "may not connect to "+sock) || !strings.Contains(r.stderr, advice) {
		t.Fatalf("list as an outsider:\n%s\nwant exit 5 naming %s and saying %q", r, sock, advice)
	}
	// With the mode opened up, kk-firewall refuses the outsider itself.
	if err := os.Chmod(sock, 0o666); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"list"}, {"revoke", l.allowed, strconv.Itoa(int(l.port))}} {
		r = runCLI(t, outsider, append(args, "--socket", sock)...)
		if r.code != exitPermission || !strings.Contains(r.stderr, "kk-firewall on "+sock+" refused uid 4243") || !strings.Contains(r.stderr, advice) {
			t.Errorf("%s as an outsider with the socket 0666:\n%s\nwant exit 5, the refusal and %q", args[0], r, advice)
		}
	}
	waitFor(t, 5*time.Second, "the log of the outsider's refusal", func() bool {
		return strings.Contains(h.log.String(), "neither root, --allow-user nor in the socket's group")
	})
	if n := len(chain(t, l.srv, "iptables")); n != 1 {
		t.Fatalf("%d rules after the outsider's revoke, want the opening kept", n)
	}

	r = runCLI(t, member, "revoke", "--socket", sock, l.allowed, strconv.Itoa(int(l.port)))
	if r.code != 0 || len(chain(t, l.srv, "iptables")) != 0 {
		t.Fatalf("revoke of %v as a member of group %s:\n%s", o, group, r)
	}
}

// openAs calls Open as cred from a copy of the test binary (see TestMain)
// and returns the gRPC code it got.
func openAs(t *testing.T, cred *syscall.Credential, sock, ip string, port uint16) string {
	t.Helper()
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(socketDir(t), "open")
	if err := os.WriteFile(exe, self, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), openEnv+"="+sock+","+ip+","+strconv.Itoa(int(port)))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("Open as uid %d: %v\n%s", cred.Uid, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestAdminCommandsWithoutHelper(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.sock")
	for _, args := range [][]string{{"list"}, {"list", "--json"}, {"revoke", "192.0.2.7", "22"}} {
		r := runCLI(t, nil, append(args, "--socket", missing)...)
		want := "kk-firewall is not running: there is no socket " + missing + " (start it with: systemctl start kk-firewall.socket)"
		if r.code != exitUnavailable || !strings.Contains(r.stderr, want) || r.stdout != "" {
			t.Errorf("%v without a socket:\n%s\nwant exit 4 and %q", args, r, want)
		}
	}
	stale := filepath.Join(dir, "stale.sock")
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ul.SetUnlinkOnClose(false)
	ul.Close()
	r := runCLI(t, nil, "list", "--socket", stale)
	if r.code != exitUnavailable || !strings.Contains(r.stderr, "nothing listens on "+stale) || !strings.Contains(r.stderr, "systemctl start kk-firewall.socket") {
		t.Errorf("list on a stale socket:\n%s", r)
	}
}
