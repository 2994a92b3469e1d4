package profile

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGenerate(t *testing.T) {
	root := filepath.Join(t.TempDir(), "profiles")
	// No group: the profile is the caller's alone (TestGenerateForGroup
	// covers the group).
	p, err := GenerateForGroup(root, "clement-laptop", 666, -1)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p.Dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("profile dir mode %v, err %v; want 0700", fi.Mode().Perm(), err)
	}
	for _, f := range Files {
		fi, err := os.Stat(filepath.Join(p.Dir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: mode %v, err %v; want 0600", f, fi.Mode().Perm(), err)
		}
	}
	read := func(name string) string {
		data, err := os.ReadFile(filepath.Join(p.Dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	if got := read(CounterFile); got != "0\n" {
		t.Errorf("counter = %q", got)
	}
	if got := read(ConfigFile); got != "[main]\nknock_port = 666\n\n" {
		t.Errorf("config = %q", got)
	}
	ck, mk := read(CipherKeyFile), read(MACKeyFile)
	for _, k := range []string{ck, mk} {
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(k, "\n"))
		if err != nil || len(raw) != 16 || !strings.HasSuffix(k, "\n") {
			t.Errorf("key file %q is not 16 bytes of base64 and a newline", k)
		}
	}
	if ck == mk {
		t.Error("cipher and MAC keys are equal")
	}
	loaded, err := LoadServer(p.Dir, t.TempDir())
	if err != nil || loaded.Keys != p.Keys || loaded.KnockPort != 666 {
		t.Fatalf("Load after Generate = %+v, %v", loaded, err)
	}
	if cmd := p.CopyCommand("myserver.com"); !strings.Contains(cmd, "scp root@myserver.com:"+p.Dir+"/* ~/.knockknock/myserver.com/") ||
		!strings.HasSuffix(cmd, " && chmod 600 ~/.knockknock/myserver.com/*") {
		t.Errorf("CopyCommand = %q", cmd)
	}
}

func TestGenerateRefuses(t *testing.T) {
	root := t.TempDir()
	if _, err := Generate(root, "alice", 666); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, profile string
		port          int
		want          string
	}{
		{"existing name", "alice", 667, "profile alice already exists"},
		{"clashing port", "bob", 666, "knock port 666 is already used by profile alice"},
		{"port zero", "bob", 0, "out of range"},
		{"port too big", "bob", 65536, "out of range"},
		{"slash", "a/b", 700, "not allowed"},
		{"dotdot", "..", 700, "not allowed"},
		{"dotdot inside", "a..b", 700, "not allowed"},
		{"empty", "", 700, "not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Generate(root, tt.profile, tt.port)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	entries, _ := os.ReadDir(root)
	if len(entries) != 1 {
		t.Fatalf("refused calls left %d entries in the profiles directory", len(entries))
	}
}

func TestLoadAll(t *testing.T) {
	root := t.TempDir()
	for i, name := range []string{"a", "b", "c"} {
		if _, err := Generate(root, name, 1000+i); err != nil {
			t.Fatal(err)
		}
	}
	// d and e clash on a port; f is damaged.
	for _, name := range []string{"d", "e"} {
		dst := copyProfile(t, originalDir, name)
		os.Rename(dst, filepath.Join(root, name))
	}
	f := filepath.Join(root, "f")
	os.Rename(copyProfile(t, originalDir, "f"), f)
	os.WriteFile(filepath.Join(f, MACKeyFile), []byte("@@@\n"), 0o600)

	got, errs := LoadAll(root, t.TempDir())
	var names []string
	for _, p := range got {
		names = append(names, p.Name)
	}
	if strings.Join(names, ",") != "a,b,c" {
		t.Fatalf("served %v, want a,b,c", names)
	}
	joined := ""
	for _, err := range errs {
		joined += err.Error() + "\n"
	}
	if len(errs) != 2 || !strings.Contains(joined, "profiles d, e share knock port 666") ||
		!strings.Contains(joined, filepath.Join(f, MACKeyFile)) {
		t.Fatalf("errors:\n%s", joined)
	}
}
