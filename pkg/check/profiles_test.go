package check

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kk-project/kk/pkg/profile"
)

// me is the identity of the user running the test, who owns the files it
// creates.
func me() *identity {
	return &identity{name: "me", uid: uint32(os.Getuid()), gid: uint32(os.Getgid()), gids: []uint32{uint32(os.Getgid())}, groups: []string{"me"}}
}

// profilesRun returns a run over a fresh profiles directory holding the
// profiles named in ports, as genprofile writes them, for identity id.
func profilesRun(t *testing.T, id *identity, ports map[string]int) (*run, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "profiles")
	for name, port := range ports {
		if _, err := profile.Generate(dir, name, port); err != nil {
			t.Fatal(err)
		}
		// As root, Generate lets a knockknock group read the profile if
		// one exists; the test wants it owned by whoever runs it.
		for _, p := range append([]string{filepath.Join(dir, name)}, paths(dir, name)...) {
			if err := os.Chown(p, os.Getuid(), os.Getgid()); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	r := newRun(withDefaults(Options{ProfilesDir: dir, User: id.name}))
	r.id = id
	return r, dir
}

func paths(dir, name string) []string {
	var out []string
	for _, f := range profile.Files {
		out = append(out, filepath.Join(dir, name, f))
	}
	return out
}

func TestCheckProfiles(t *testing.T) {
	const secret = "S3CRET-CONTENT"
	tests := []struct {
		name   string
		ports  map[string]int
		spoil  func(dir string) error
		status Status
		want   []string // in the line
	}{
		{"healthy", map[string]int{"lab": 6666}, nil, OK,
			[]string{"OK    profile lab: knock port 6666, files read-only to me, keys not readable by others"}},
		{"cipher.key readable by others", map[string]int{"lab": 6666},
			chmod("lab/cipher.key", 0o644), Fail,
			[]string{"FAIL  profile lab: refused by kk-monitor: ", "/lab/cipher.key: unsafe profile file: readable by others (mode 0644): chmod 640 ",
				"fix: chown -R root:me ", "chmod 640 "}},
		{"mac.key readable by the monitor's group", map[string]int{"lab": 6666},
			chmod("lab/mac.key", 0o640), OK, []string{"OK    profile lab: knock port 6666"}},
		{"mac.key readable by others", map[string]int{"lab": 6666},
			chmod("lab/mac.key", 0o604), Fail, []string{"/lab/mac.key: unsafe profile file: readable by others (mode 0604)"}},
		{"counter writable by others", map[string]int{"lab": 6666},
			chmod("lab/counter", 0o606), Fail, []string{"/lab/counter: unsafe profile file: writable by group or others (mode 0606): chmod go-w "}},
		{"directory writable by group", map[string]int{"lab": 6666},
			chmod("lab", 0o770), Fail, []string{"the directory is writable by group or others (0770 "}},
		{"damaged key", map[string]int{"lab": 6666},
			write("lab/mac.key", secret+"\n"), Fail,
			[]string{"profile lab: ", "/lab/mac.key is damaged (kk-monitor cannot parse it)", "fix: copy ", "client's copy"}},
		{"damaged counter", map[string]int{"lab": 6666},
			write("lab/counter", secret+"\n"), Fail, []string{"/lab/counter is damaged", "never reset it to 0"}},
		{"damaged config", map[string]int{"lab": 6666},
			write("lab/config", "[main]\nknock_port = "+secret+"\n"), Fail, []string{"/lab/config is damaged", `"knock_port = <port>"`}},
		{"missing counter", map[string]int{"lab": 6666},
			remove("lab/counter"), Fail, []string{"/lab/counter is missing"}},
		{"shared knock port", map[string]int{"a": 6666, "b": 7000},
			write("b/config", "[main]\nknock_port = 6666\n"), Fail, []string{"FAIL  profile a: knock port 6666 is shared", "FAIL  profile b: knock port 6666 is shared"}},
		{"no profile", nil, nil, Fail, []string{"no profile, so no knock is accepted", "fix: kk-monitor genprofile"}},
		{"profiles directory writable by others", map[string]int{"lab": 6666},
			chmod(".", 0o777), Fail, []string{"writable by group or others (0777 ", "could add a profile", "fix: chmod go-w "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, dir := profilesRun(t, me(), tt.ports)
			if tt.spoil != nil {
				if err := tt.spoil(dir); err != nil {
					t.Fatal(err)
				}
			}
			text, worst := lines(r.checkProfiles())
			if worst != tt.status {
				t.Errorf("worst status %s, want %s:\n%s", worst, tt.status, text)
			}
			for _, w := range tt.want {
				if !strings.Contains(text, w) {
					t.Errorf("output lacks %q:\n%s", w, text)
				}
			}
			if strings.Contains(text, secret) {
				t.Errorf("output shows a file's content:\n%s", text)
			}
		})
	}
}

// TestCheckProfilesOtherUser judges a profile owned by the test's user for
// a monitor user that does not own it. Run as root, the check loads it as
// that user and cannot; run as anyone else, the modes say the same.
func TestCheckProfilesOtherUser(t *testing.T) {
	r, dir := profilesRun(t, &identity{name: "kkother", uid: 4242, gid: 4242, gids: []uint32{4242}, groups: []string{"kkother"}}, map[string]int{"lab": 6666})
	for d := filepath.Dir(dir); d != "/"; d = filepath.Dir(d) {
		if strings.HasPrefix(d, os.TempDir()+"/") {
			os.Chmod(d, 0o755) // let uid 4242 reach the profiles
		}
	}
	text, worst := lines(r.checkProfiles())
	if worst != Fail || !strings.Contains(text, "fix: chown -R root:kkother "+filepath.Join(dir, "lab")) {
		t.Errorf("want a FAIL with the chown fix:\n%s", text)
	}
}

func TestCheckProfilesMissingDir(t *testing.T) {
	r := newRun(withDefaults(Options{ProfilesDir: filepath.Join(t.TempDir(), "none")}))
	r.id = me()
	text, worst := lines(r.checkProfiles())
	if worst != Fail || !strings.Contains(text, "none: does not exist; fix: kk-monitor genprofile") {
		t.Errorf("got %s:\n%s", worst, text)
	}
	if len(r.ports) != 0 {
		t.Errorf("ports %v from a missing directory", r.ports)
	}
}

// lines formats results as the report does and returns the worst status.
func lines(rs []Result) (string, Status) {
	var b strings.Builder
	worst := OK
	for _, r := range rs {
		fmt.Fprintln(&b, r)
		worst = max(worst, r.Status)
	}
	return b.String(), worst
}

func chmod(rel string, mode os.FileMode) func(string) error {
	return func(dir string) error { return os.Chmod(filepath.Join(dir, rel), mode) }
}

func write(rel, content string) func(string) error {
	return func(dir string) error { return os.WriteFile(filepath.Join(dir, rel), []byte(content), 0o600) }
}

func remove(rel string) func(string) error {
	return func(dir string) error { return os.Remove(filepath.Join(dir, rel)) }
}
