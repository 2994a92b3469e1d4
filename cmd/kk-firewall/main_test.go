package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

func TestFlagLists(t *testing.T) {
	ports, err := parsePorts(" 22, 443 ,")
	if err != nil || len(ports) != 2 || ports[0] != 22 || ports[1] != 443 {
		t.Errorf("parsePorts = %v, %v", ports, err)
	}
	for _, bad := range []string{"0", "65536", "ssh", "22,x"} {
		if _, err := parsePorts(bad); err == nil {
			t.Errorf("parsePorts(%q) accepted", bad)
		}
	}
	uids, err := parseUsers("root,1234")
	if err != nil || len(uids) != 2 || uids[0] != 0 || uids[1] != 1234 {
		t.Errorf("parseUsers = %v, %v", uids, err)
	}
	if _, err := parseUsers("kk-no-such-user"); err == nil {
		t.Error("parseUsers accepted a missing user")
	}
}
