package profile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	tests := []struct {
		name, config string
		want         int
		err          string
	}{
		{"absent, as in the original's files", "[main]\nknock_port = 666\n", 1, ""},
		{"1", "[main]\nknock_port = 666\nversion = 1\n", 1, ""},
		{"2", "[main]\nknock_port = 666\nversion = 2\n", 2, ""},
		{"3", "[main]\nknock_port = 666\nversion = 3\n", 0, `version = "3": use 1`},
		{"empty", "[main]\nknock_port = 666\nversion =\n", 0, `version = "": use 1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := copyProfile(t, originalDir, "p")
			path := filepath.Join(dir, ConfigFile)
			if err := os.WriteFile(path, []byte(tt.config), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, load := range []func() (*Profile, error){
				func() (*Profile, error) { return LoadServer(dir, t.TempDir()) },
				func() (*Profile, error) { return Load(dir) },
			} {
				p, err := load()
				if tt.err != "" {
					if err == nil || !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tt.err) {
						t.Fatalf("load: %v, want ErrCorrupt naming %s and saying %q", err, path, tt.err)
					}
				} else if err != nil || p.Version != tt.want {
					t.Fatalf("load: %v, %+v; want version %d", err, p, tt.want)
				}
			}
		})
	}
}

func TestGenerateVersion(t *testing.T) {
	profiles := filepath.Join(t.TempDir(), "profiles")
	p, err := GenerateVersion(profiles, "v2", 666, -1, nil, 2)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(p.Dir, ConfigFile))
	if want := "[main]\nknock_port = 666\nversion = 2\n\n"; string(data) != want {
		t.Fatalf("config %q, want %q", data, want)
	}
	if q, err := Load(p.Dir); err != nil || q.Version != 2 {
		t.Fatalf("Load: %v, %+v; want version 2", err, q)
	}
	if _, err := GenerateVersion(profiles, "v3", 667, -1, nil, 3); err == nil {
		t.Fatal("version 3 generated")
	}
}
