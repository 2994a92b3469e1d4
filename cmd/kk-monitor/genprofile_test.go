package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGenprofileAllowPorts: --allow-ports writes allowed_ports, without it
// the config is the original's, and a bad list is a usage error.
func TestGenprofileAllowPorts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "profiles")
	group := "--group=nonexistent-kk-group" // the profile is then the caller's alone
	if err := run([]string{"genprofile", "--profiles", dir, group, "--allow-ports", "443,22", "666", "web"}); err != nil {
		t.Fatal(err)
	}
	if err := run([]string{"genprofile", "--profiles", dir, group, "667", "plain"}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"web":   "[main]\nknock_port = 666\nallowed_ports = 22, 443\n\n",
		"plain": "[main]\nknock_port = 667\n\n",
	} {
		got, err := os.ReadFile(filepath.Join(dir, name, "config"))
		if err != nil || string(got) != want {
			t.Errorf("%s config %q, %v; want %q", name, got, err, want)
		}
	}
	err := run([]string{"genprofile", "--profiles", dir, group, "--allow-ports", "22,0", "668", "bad"})
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), `--allow-ports has "0", not a port from 1 to 65535`) {
		t.Errorf("--allow-ports 22,0: %v, want a usage error naming the port", err)
	}
}

// TestGenprofileV2: --v2 writes version = 2.
func TestGenprofileV2(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "profiles")
	if err := run([]string{"genprofile", "--profiles", dir, "--group=nonexistent-kk-group", "--v2", "669", "bound"}); err != nil {
		t.Fatal(err)
	}
	want := "[main]\nknock_port = 669\nversion = 2\n\n"
	if got, err := os.ReadFile(filepath.Join(dir, "bound", "config")); err != nil || string(got) != want {
		t.Errorf("config %q, %v; want %q", got, err, want)
	}
}
