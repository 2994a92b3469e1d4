package check

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kk-project/kk/internal/nstest"
	"github.com/kk-project/kk/pkg/profile"
)

// statusDirs makes a profiles directory with the given profiles, as
// genprofile writes them (the caller's own), and an empty state directory.
func statusDirs(t *testing.T, ports map[string]int) (profiles, state string) {
	t.Helper()
	root := t.TempDir()
	profiles, state = filepath.Join(root, "profiles"), filepath.Join(root, "state")
	if err := os.MkdirAll(profiles, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, port := range ports {
		if _, err := profile.GenerateVersion(profiles, name, port, -1, nil, 1); err != nil {
			t.Fatal(err)
		}
	}
	return profiles, state
}

func noRsyslog(string) (fs.FileInfo, error) { return nil, fs.ErrNotExist }

func statusOf(t *testing.T, profiles, state, config string) (*Report, string) {
	t.Helper()
	r := StatusReport(StatusOptions{ConfigPath: config, ProfilesDir: profiles, StateDir: state, Stat: noRsyslog})
	var b bytes.Buffer
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	return r, b.String()
}

func TestStatusCounterSource(t *testing.T) {
	profiles, state := statusDirs(t, map[string]int{"new": 700, "old": 701})
	p, err := profile.LoadServer(filepath.Join(profiles, "old"), state)
	if err != nil {
		t.Fatal(err)
	}
	// As kk-monitor does: take the counter over, then accept knock 6.
	if _, err := p.TakeOver(); err != nil {
		t.Fatal(err)
	}
	if err := p.Accept(6); err != nil {
		t.Fatal(err)
	}
	r, text := statusOf(t, profiles, state, filepath.Join(t.TempDir(), "absent"))
	if r.Broken() {
		t.Fatalf("broken:\n%s", text)
	}
	for _, want := range []string{
		"(absent: the defaults apply)",
		"log source  journald (auto: /var/log/knockknock/kern.log does not exist",
		"state dir   " + state + "\n",
		"profile new: knock port 700, v1, counter 0 (the profile's own " + filepath.Join(profiles, "new", "counter") +
			", which kk-monitor takes over at its next start or reload), allowed ports: any\n",
		"profile old: knock port 701, v1, counter 7 (kk-monitor's state counter " + filepath.Join(state, "old", "counter") +
			"), allowed ports: any\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("status lacks %q:\n%s", want, text)
		}
	}
	if got := r.Profiles[1]; got.CounterSource != CounterState || *got.Counter != 7 {
		t.Errorf("old = %+v, want counter 7 from the state", got)
	}
}

func TestStatusBroken(t *testing.T) {
	profiles, state := statusDirs(t, map[string]int{"a": 700, "b": 701, "c": 702, "d": 703, "good": 704})
	write := func(path, body string) {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// a and b share a knock port; c's counter is gone; d's state counter
	// is damaged.
	write(filepath.Join(profiles, "b", "config"), "[main]\nknock_port = 700\n")
	if err := os.Remove(filepath.Join(profiles, "c", "counter")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(state, "d"), 0o700); err != nil {
		t.Fatal(err)
	}
	write(filepath.Join(state, "d", "counter"), "twelve\n")
	config := filepath.Join(t.TempDir(), "config")
	write(config, "[main]\ndelay = 0\n")

	r, text := statusOf(t, profiles, state, config)
	if !r.Broken() {
		t.Fatalf("not broken:\n%s", text)
	}
	for _, want := range []string{
		"config      " + config + ": BROKEN: " + config + ": [main] delay = \"0\": must be a whole number from 1 to 3600",
		"profile a: BROKEN: profiles a, b share knock port 700, so kk-monitor serves none of them; fix: give each its own knock_port in its config file (" +
			filepath.Join(profiles, "a", "config") + ")",
		"profile b: BROKEN: profiles a, b share knock port 700",
		"profile c: BROKEN: ", filepath.Join(profiles, "c", "counter") + ": no such file",
		"fix: restore " + filepath.Join(profiles, "c", "counter") + " from a backup or the client's copy; never reset it to 0",
		"profile d: BROKEN: " + filepath.Join(state, "d", "counter") + ": corrupt profile file: not a decimal number; fix: restore " +
			filepath.Join(state, "d", "counter"),
		"profile good: knock port 704, v1, counter 0",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("status lacks %q:\n%s", want, text)
		}
	}
	if n := strings.Count(text, "\nprofile "); n != 5 {
		t.Errorf("%d profile lines, want 5:\n%s", n, text)
	}
}

func TestStatusNoProfiles(t *testing.T) {
	profiles, state := statusDirs(t, nil)
	r, text := statusOf(t, profiles, state, "/nonexistent/config")
	if !r.Broken() || !strings.Contains(text, "profiles    "+profiles+": BROKEN: no profile, so no knock is accepted; fix: kk-monitor genprofile") {
		t.Errorf("an empty profiles directory is not reported:\n%s", text)
	}
	r, text = statusOf(t, filepath.Join(profiles, "absent"), state, "/nonexistent/config")
	if !r.Broken() || !strings.Contains(text, "no such file or directory; fix: kk-monitor genprofile") {
		t.Errorf("a missing profiles directory is not reported:\n%s", text)
	}
}

// TestStatusJSONHasNoKeys: the JSON carries the same facts and no key.
func TestStatusJSONHasNoKeys(t *testing.T) {
	profiles, state := statusDirs(t, map[string]int{"web": 800})
	r := StatusReport(StatusOptions{ProfilesDir: profiles, StateDir: state, ConfigPath: "/nonexistent", Stat: noRsyslog})
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{profile.CipherKeyFile, profile.MACKeyFile} {
		key, err := os.ReadFile(filepath.Join(profiles, "web", f))
		if err != nil {
			t.Fatal(err)
		}
		if k := strings.TrimSpace(string(key)); strings.Contains(b.String(), k) {
			t.Errorf("the JSON shows %s", f)
		}
	}
	var back Report
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Profiles) != 1 || back.Profiles[0].KnockPort != 800 || back.LogSource != "journald" ||
		back.Profiles[0].CounterSource != CounterProfile || *back.Profiles[0].Counter != 0 {
		t.Errorf("JSON round trip: %+v", back)
	}
}

// TestCheckConfigUnknownKey: check warns about a key kk-monitor ignores.
func TestCheckConfigUnknownKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(path, []byte("[main]\ndealy = 30\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	res := newRun(withDefaults(Options{ConfigPath: path})).checkConfig()
	if res.Status != Warn || !strings.Contains(res.String(), "kk-monitor ignores [main] dealy: not a key it knows; fix: correct the spelling") {
		t.Errorf("checkConfig = %s", res)
	}
	if err := os.WriteFile(path, []byte("[main]\ndelay = 30\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if res := newRun(withDefaults(Options{ConfigPath: path})).checkConfig(); res.Status != OK {
		t.Errorf("checkConfig of a good file = %s", res)
	}
}

// TestStatusAsRootReadsAsStateOwner: root runs status on a server where
// kk-monitor (here nobody, owner of the state directory) has taken a
// profile's counter over. Status must read as nobody, as kk-monitor does,
// and report the state counter; read as root, the counter file is nobody's
// and the profile would look broken.
func TestStatusAsRootReadsAsStateOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		nstest.Unavailable(t, "needs root to give the state directory to nobody and read as it")
	}
	const uid, gid = 65534, 65534
	nobody := &identity{name: "nobody", uid: uid, gid: gid, gids: []uint32{gid}}
	if u, err := user.LookupId("65534"); err != nil || u.Username != "nobody" {
		nstest.Unavailable(t, "needs user nobody with uid 65534")
	}
	root := t.TempDir()
	// nobody must reach it: TempDir and its parent are 0700.
	for _, d := range []string{filepath.Dir(root), root} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	profiles, state := filepath.Join(root, "profiles"), filepath.Join(root, "state")
	// As genprofile --group and the tmpfiles.d file leave them: root's,
	// readable by kk-monitor's group.
	if _, err := profile.GenerateVersion(profiles, "laptop", 702, gid, nil, 1); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(profiles, 0, gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(profiles, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(state, uid, gid); err != nil {
		t.Fatal(err)
	}
	// kk-monitor, as nobody, takes the counter over and accepts knock 4.
	err := nobody.do(func() error {
		p, err := profile.LoadServer(filepath.Join(profiles, "laptop"), state)
		if err != nil {
			return err
		}
		if _, err := p.TakeOver(); err != nil {
			return err
		}
		return p.Accept(4)
	})
	if err != nil {
		t.Fatal(err)
	}
	r, text := statusOf(t, profiles, state, filepath.Join(t.TempDir(), "absent"))
	if r.Broken() {
		t.Fatalf("broken:\n%s", text)
	}
	if got := r.Profiles[0]; got.CounterSource != CounterState || got.Counter == nil || *got.Counter != 5 {
		t.Errorf("laptop = %+v, want counter 5 from the state:\n%s", got, text)
	}
}
