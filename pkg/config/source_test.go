package config

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
)

// fakeStat returns a stat that finds exactly the paths in files, and fails
// with EACCES for the paths in denied.
func fakeStat(files []string, denied ...string) func(string) (fs.FileInfo, error) {
	fsys := fstest.MapFS{}
	for _, f := range files {
		fsys[strings.TrimPrefix(f, "/")] = &fstest.MapFile{Mode: 0o644}
	}
	return func(name string) (fs.FileInfo, error) {
		for _, d := range denied {
			if name == d {
				return nil, &fs.PathError{Op: "stat", Path: name, Err: syscall.EACCES}
			}
		}
		return fs.Stat(fsys, strings.TrimPrefix(name, "/"))
	}
}

func TestResolveLogSource(t *testing.T) {
	const kernLog = DefaultLogFile
	withFile := func(source, file string) Config {
		c := Default()
		c.LogSource, c.LogFile = source, file
		return c
	}
	tests := []struct {
		name        string
		cfg         Config
		stat        func(string) (fs.FileInfo, error)
		source      string
		reasonParts []string
	}{
		{"auto, file and rsyslog", Default(), fakeStat([]string{kernLog, RsyslogdPath}),
			SourceFile, []string{"auto: /var/log/knockknock/kern.log exists and rsyslogd is installed"}},
		{"auto, no file", Default(), fakeStat([]string{RsyslogdPath}),
			SourceJournald, []string{"auto: /var/log/knockknock/kern.log does not exist (rsyslog writes it with kk's rule /etc/rsyslog.d/30-knockknock.conf)"}},
		{"auto, stock Debian 12", Default(), fakeStat(nil),
			SourceJournald, []string{"auto: /var/log/knockknock/kern.log does not exist"}},
		{"auto, file left by a removed rsyslog", Default(), fakeStat([]string{kernLog}),
			SourceJournald, []string{"/var/log/knockknock/kern.log exists but rsyslogd is not installed", RsyslogdPath}},
		{"auto, rsyslogd is a directory", Default(), fakeStat([]string{kernLog, RsyslogdPath + "/x"}),
			SourceJournald, []string{"rsyslogd is not installed"}},
		{"auto, file cannot be looked up", Default(), fakeStat([]string{kernLog, RsyslogdPath}, kernLog),
			SourceJournald, []string{"auto: stat /var/log/knockknock/kern.log: permission denied"}},
		{"auto, other log_file", withFile(SourceAuto, "/srv/k.log"), fakeStat([]string{"/srv/k.log", RsyslogdPath}),
			SourceFile, []string{"auto: /srv/k.log exists"}},
		{"explicit file, nothing exists", withFile(SourceFile, kernLog), fakeStat(nil),
			SourceFile, []string{"log_source = file"}},
		{"explicit journald, file and rsyslog", withFile(SourceJournald, kernLog), fakeStat([]string{kernLog, RsyslogdPath}),
			SourceJournald, []string{"log_source = journald"}},
		// kk-monitor's --log sets log_source = file and log_file.
		{"--log override", withFile(SourceFile, "/tmp/replay.log"), fakeStat(nil),
			SourceFile, []string{"log_source = file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			source, reason := tt.cfg.ResolveLogSource(tt.stat)
			if source != tt.source {
				t.Errorf("source %q (%s), want %q", source, reason, tt.source)
			}
			for _, part := range tt.reasonParts {
				if !strings.Contains(reason, part) {
					t.Errorf("reason %q does not contain %q", reason, part)
				}
			}
		})
	}
}

// TestResolveLogSourceOS resolves with the real os.Stat (stat nil) against
// a temporary log file: whichever way rsyslogd is installed here, the
// answer must agree with RsyslogInstalled.
func TestResolveLogSourceOS(t *testing.T) {
	c := Default()
	c.LogFile = filepath.Join(t.TempDir(), "kern.log")
	if source, reason := c.ResolveLogSource(nil); source != SourceJournald {
		t.Errorf("missing file: source %q (%s), want journald", source, reason)
	}
	if err := os.WriteFile(c.LogFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	want := SourceJournald
	if RsyslogInstalled(nil) {
		want = SourceFile
	}
	if source, reason := c.ResolveLogSource(nil); source != want {
		t.Errorf("existing file: source %q (%s), want %q", source, reason, want)
	}
}
