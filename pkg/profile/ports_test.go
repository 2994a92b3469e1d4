package profile

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestAllowedPorts(t *testing.T) {
	tests := []struct {
		name, config string
		want         []uint16
		err          string
	}{
		{"absent, as in the original's files", "[main]\nknock_port = 666\n", nil, ""},
		{"two ports", "[main]\nknock_port = 666\nallowed_ports = 443, 22\n", []uint16{22, 443}, ""},
		{"repeats and no spaces", "[main]\nknock_port = 666\nallowed_ports=22,22,80\n", []uint16{22, 80}, ""},
		{"empty", "[main]\nknock_port = 666\nallowed_ports =\n", nil, `allowed_ports has "", not a port`},
		{"port 0", "[main]\nknock_port = 666\nallowed_ports = 0, 22\n", nil, `allowed_ports has "0", not a port from 1 to 65535`},
		{"too big", "[main]\nknock_port = 666\nallowed_ports = 65536\n", nil, `has "65536"`},
		{"a range", "[main]\nknock_port = 666\nallowed_ports = 22-25\n", nil, `has "22-25"`},
		{"too many", "[main]\nknock_port = 666\nallowed_ports = 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17\n", nil, "lists 17 ports, more than 16"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := copyProfile(t, originalDir, "p")
			path := filepath.Join(dir, ConfigFile)
			if err := os.WriteFile(path, []byte(tt.config), 0o600); err != nil {
				t.Fatal(err)
			}
			p, err := LoadServer(dir, t.TempDir())
			if tt.err != "" {
				if err == nil || !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("LoadServer: %v, want ErrCorrupt naming %s and saying %q", err, path, tt.err)
				}
			} else if err != nil || !slices.Equal(p.AllowedPorts, tt.want) {
				t.Fatalf("LoadServer: %v, allowed %v; want %v", err, p, tt.want)
			}
			// A client ignores allowed_ports, even a damaged one.
			if c, err := Load(dir); err != nil || c.AllowedPorts != nil {
				t.Fatalf("client Load: %v, allowed_ports read", err)
			}
		})
	}
}

func TestGenerateAllowing(t *testing.T) {
	profiles := filepath.Join(t.TempDir(), "profiles")
	p, err := GenerateAllowing(profiles, "web", 666, -1, []uint16{443, 22})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(p.Dir, ConfigFile))
	if want := "[main]\nknock_port = 666\nallowed_ports = 22, 443\n\n"; string(data) != want {
		t.Fatalf("config %q, want %q", data, want)
	}
	q, err := GenerateForGroup(profiles, "plain", 667, -1)
	if err != nil {
		t.Fatal(err)
	}
	data, _ = os.ReadFile(filepath.Join(q.Dir, ConfigFile))
	if want := "[main]\nknock_port = 667\n\n"; string(data) != want {
		t.Fatalf("config without allowed ports %q, want the original's %q", data, want)
	}
	ports, open, errs := UnionAllowedPorts(profiles)
	if !slices.Equal(ports, []uint16{22, 443}) || !slices.Equal(open, []string{"plain"}) || errs != nil {
		t.Fatalf("UnionAllowedPorts = %v, %v, %v", ports, open, errs)
	}
}
