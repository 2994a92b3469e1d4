package check

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kk-project/kk/pkg/config"
	"github.com/kk-project/kk/pkg/profile"

	"github.com/kk-project/kk/internal/nstest"
)

func TestCheckLogFile(t *testing.T) {
	stranger := &identity{name: "stranger", uid: 4242, gid: 4242, gids: []uint32{4242}}
	member := &identity{name: "member", uid: 4242, gid: 4242, gids: []uint32{4242, uint32(os.Getgid())}}
	tests := []struct {
		name   string
		id     *identity
		mode   os.FileMode
		status Status
		want   string
	}{
		{"group member, 0640", member, 0o640, OK, "member may read it (0640 "},
		{"stranger, 0640", stranger, 0o640, Fail, "stranger may not read it (0640 "},
		{"stranger, 0644", stranger, 0o644, OK, "stranger may read it (0644 "},
		{"owner, 0600", me(), 0o600, OK, "me may read it (0600 "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			openDirs(t, dir)
			path := filepath.Join(dir, "kern.log")
			must(t, os.WriteFile(path, nil, tt.mode))
			must(t, os.Chmod(path, tt.mode))
			r := newRun(withDefaults(Options{User: tt.id.name}))
			r.id = tt.id
			res := r.checkLogFile(path, "log_source = file")
			if res.Status != tt.status || !strings.Contains(res.String(), tt.want) {
				t.Errorf("got %s\nwant %s containing %q", res, tt.status, tt.want)
			}
		})
	}
}

func TestLogFileFix(t *testing.T) {
	r := newRun(withDefaults(Options{}))
	r.id = &identity{name: "kkmon", uid: 999}
	tests := []struct {
		fi   fakeInfo
		want string
	}{
		{fakeInfo{0o640, 0, 4}, "usermod -aG " + profile.GroupName(4) + " kkmon, then systemctl restart kk-monitor"},
		{fakeInfo{0o600, 0, 0}, "chgrp adm /var/log/kern.log && chmod 640 /var/log/kern.log"},
		{fakeInfo{0o600, 0, 4}, "chgrp adm /var/log/kern.log && chmod 640 /var/log/kern.log"},
	}
	for _, tt := range tests {
		if got := r.logFileFix("/var/log/kern.log", tt.fi); !strings.HasPrefix(got, tt.want) {
			t.Errorf("mode %o gid %d: got %q, want %q...", tt.fi.mode, tt.fi.gid, got, tt.want)
		}
	}
}

func TestCheckJournal(t *testing.T) {
	if _, err := exec.LookPath("journalctl"); err != nil {
		nstest.Unavailable(t, "no journalctl here: the journald check needs it")
	}
	tests := []struct {
		groups []string
		status Status
		want   string
	}{
		{[]string{"kkmon", "adm"}, OK, "kkmon may read the kernel journal (group adm)"},
		{[]string{"kkmon", "systemd-journal"}, OK, "(group systemd-journal)"},
		{[]string{"kkmon"}, Fail, "kkmon is in neither adm nor systemd-journal, so journalctl -k shows it no kernel messages; " +
			"fix: usermod -aG systemd-journal kkmon"},
	}
	for _, tt := range tests {
		r := newRun(withDefaults(Options{}))
		r.cfg.LogSource = config.SourceJournald
		r.id = &identity{name: "kkmon", uid: 999, groups: tt.groups}
		res := r.checkLogSource()
		if res.Status != tt.status || !strings.Contains(res.String(), tt.want) {
			t.Errorf("groups %v: got %s\nwant %s containing %q", tt.groups, res, tt.status, tt.want)
		}
	}
}
