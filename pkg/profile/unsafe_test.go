package profile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kk-project/kk/internal/nstest"
)

// canarySecret stands for the content of a file the profile's files must
// never reveal, such as /etc/shadow.
const canarySecret = "root:$6$CANARY-SECRET-e3b0c442:19000:0:99999:7:::"

// writeCanary writes a file holding canarySecret outside any profile and
// returns its path.
func writeCanary(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "shadow")
	if err := os.WriteFile(path, []byte(canarySecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A spoiler replaces the file at path with something that is not a plain
// profile file; want is what the error must say.
type spoiler struct {
	name string
	make func(t *testing.T, path, canary string)
	want string
}

var spoilers = []spoiler{
	{"symlink to a secret", func(t *testing.T, path, canary string) {
		replaceWith(t, path, func() error { return os.Symlink(canary, path) })
	},
		"is a symlink"},
	{"symlink to /dev/zero", func(t *testing.T, path, _ string) {
		replaceWith(t, path, func() error { return os.Symlink("/dev/zero", path) })
	}, "is a symlink"},
	{"FIFO", func(t *testing.T, path, _ string) {
		replaceWith(t, path, func() error { return unix.Mkfifo(path, 0o600) })
	},
		"not a regular file (a FIFO)"},
	{"oversized", func(t *testing.T, path, _ string) {
		big := strings.Repeat(canarySecret+"\n", 2*MaxFileSize/len(canarySecret))
		replaceWith(t, path, func() error { return os.WriteFile(path, []byte(big), 0o600) })
	}, "longer than 4096 bytes"},
	{"/dev/zero's device node", func(t *testing.T, path, _ string) {
		if os.Geteuid() != 0 {
			nstest.Unavailable(t, "mknod needs root")
		}
		replaceWith(t, path, func() error { return mknod(path, unix.S_IFCHR|0o600, unix.Mkdev(1, 5)) })
	}, "not a regular file (a character device)"},
}

func replaceWith(t *testing.T, path string, mk func() error) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	if err := mk(); err != nil {
		t.Fatal(err)
	}
}

// within runs fn and fails the test if it takes more than 5 s: a FIFO or
// /dev/zero must not block or be read without end.
func within(t *testing.T, fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("still blocked after 5 s")
		return nil
	}
}

// TestUnsafeFiles spoils each file of a profile in each place it is read:
// a client's Load and knock, a server's load with a state counter, and the
// takeover of a server profile's own counter. Each must fail quickly with
// an error naming the file and what is wrong, and never show what the
// file points to.
func TestUnsafeFiles(t *testing.T) {
	type place struct {
		name string
		// setup returns the path to spoil and the action that reads it.
		setup func(t *testing.T, file string) (path string, act func() error)
	}
	places := []place{
		{"client load", func(t *testing.T, file string) (string, func() error) {
			dir := copyProfile(t, originalDir, "myserver.com")
			return filepath.Join(dir, file), func() error { _, err := Load(dir); return err }
		}},
		{"client knock", func(t *testing.T, file string) (string, func() error) {
			dir := copyProfile(t, originalDir, "myserver.com")
			p, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			return filepath.Join(dir, file), func() error { _, _, err := p.NextKnock(22); return err }
		}},
		{"server load", func(t *testing.T, file string) (string, func() error) {
			dir, state := serverProfile(t, "5\n")
			p, err := LoadServer(dir, state)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.TakeOver(); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, file)
			if file == CounterFile {
				path = filepath.Join(state, p.Name, CounterFile) // the counter the server uses
			}
			return path, func() error { _, err := LoadServer(dir, state); return err }
		}},
		{"server accept", func(t *testing.T, file string) (string, func() error) {
			dir, state := serverProfile(t, "5\n")
			p, err := LoadServer(dir, state)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.TakeOver(); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(state, p.Name, CounterFile), func() error { return p.Accept(7) }
		}},
		{"takeover", func(t *testing.T, file string) (string, func() error) {
			dir, state := serverProfile(t, "5\n")
			return filepath.Join(dir, file), func() error {
				p, err := LoadServer(dir, state)
				if err != nil {
					return err
				}
				_, err = p.TakeOver()
				return err
			}
		}},
	}
	for _, pl := range places {
		for _, file := range Files {
			if (pl.name == "server accept" || pl.name == "client knock") && file != CounterFile {
				continue
			}
			for _, sp := range spoilers {
				t.Run(pl.name+"/"+file+"/"+sp.name, func(t *testing.T) {
					canary := writeCanary(t)
					path, act := pl.setup(t, file)
					sp.make(t, path, canary)
					err := within(t, act)
					if err == nil {
						t.Fatalf("%s accepted", path)
					}
					msg := err.Error()
					if !strings.Contains(msg, path) || !strings.Contains(msg, sp.want) || !errors.Is(err, ErrUnsafe) {
						t.Fatalf("err = %q, want it to name %s, say %q and wrap ErrUnsafe", msg, path, sp.want)
					}
					if strings.Contains(msg, "CANARY") {
						t.Fatalf("the error shows the file's content: %q", msg)
					}
					if data, _ := os.ReadFile(canary); string(data) != canarySecret+"\n" {
						t.Fatalf("the canary was changed to %q", data)
					}
				})
			}
		}
	}
}

// serverProfile copies the original profile as a server's, with the given
// counter file, and returns it with an empty state directory.
func serverProfile(t testing.TB, counter string) (dir, state string) {
	t.Helper()
	dir = copyProfile(t, originalDir, "clement-laptop")
	if err := os.WriteFile(filepath.Join(dir, CounterFile), []byte(counter), 0o600); err != nil {
		t.Fatal(err)
	}
	state = filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir, state
}

// TestModes: a key open to others is refused on the server, anything open
// to group or others on the client, each with the chmod that fixes it; so
// are files writable by group and files owned by another user.
func TestModes(t *testing.T) {
	tests := []struct {
		name   string
		server bool
		file   string
		mode   os.FileMode
		uid    int // -1: keep
		want   string
	}{
		{"server key 0640", true, CipherKeyFile, 0o640, -1, ""},
		{"server config 0644", true, ConfigFile, 0o644, -1, ""},
		{"server key 0644", true, CipherKeyFile, 0o644, -1, "readable by others (mode 0644): chmod 640 "},
		{"server key 0604", true, MACKeyFile, 0o604, -1, "readable by others (mode 0604): chmod 640 "},
		{"server config group-writable", true, ConfigFile, 0o660, -1, "writable by group or others (mode 0660): chmod go-w "},
		{"server counter world-writable", true, CounterFile, 0o602, -1, "writable by group or others (mode 0602): chmod go-w "},
		{"server key of another user", true, MACKeyFile, 0o600, 4242, "neither root nor kk-monitor's user"},
		{"client 0600", false, CipherKeyFile, 0o600, -1, ""},
		{"client key 0640", false, CipherKeyFile, 0o640, -1, "open to group or others (mode 0640): chmod 600 "},
		{"client key 0644", false, MACKeyFile, 0o644, -1, "open to group or others (mode 0644): chmod 600 "},
		{"client counter 0644", false, CounterFile, 0o644, -1, "chmod 600 "},
		{"client config 0660", false, ConfigFile, 0o660, -1, "chmod 600 "},
		{"client key of another user", false, CipherKeyFile, 0o600, 4242, "not by you"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.uid >= 0 && os.Geteuid() != 0 {
				nstest.Unavailable(t, "chown needs root")
			}
			dir, state := serverProfile(t, "0\n")
			path := filepath.Join(dir, tt.file)
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			if tt.uid >= 0 {
				if err := os.Chown(path, tt.uid, -1); err != nil {
					t.Fatal(err)
				}
			}
			var err error
			if tt.server {
				_, err = LoadServer(dir, state)
			} else {
				_, err = Load(dir)
			}
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), path+": ") ||
				!strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrUnsafe naming %s and saying %q", err, path, tt.want)
			}
			if strings.HasPrefix(tt.want, "chmod") || strings.Contains(tt.want, "chmod") {
				if !strings.HasSuffix(err.Error(), tt.want[strings.Index(tt.want, "chmod"):]+path) {
					t.Fatalf("err = %v: the fix does not name %s", err, path)
				}
			}
		})
	}
}
