package kernlog

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRsyslogKeepsForgeriesOutOfKernLog checks the assumption that makes a
// kern.log line with the tag "kernel:" trustworthy: rsyslogd files messages
// that user programs send with the kern facility (logger -p kern.warn -t
// kernel) under user, so they never reach a kern.* file such as
// /var/log/kern.log. A catch-all file such as /var/log/syslog does get them,
// word for word as the kernel's, which is why log_file must be a kern.*
// file (or log_source journald). It runs a private rsyslogd on its own
// socket.
func TestRsyslogKeepsForgeriesOutOfKernLog(t *testing.T) {
	rsyslogd, err := exec.LookPath("rsyslogd")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("rsyslogd missing: apt-get install rsyslog")
		}
		t.Skip("SKIPPED: rsyslogd missing: apt-get install rsyslog")
	}
	dir := t.TempDir()
	sock, kern, all := filepath.Join(dir, "log.sock"), filepath.Join(dir, "kern.log"), filepath.Join(dir, "all.log")
	conf := `module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="` + sock + `")
kern.* action(type="omfile" file="` + kern + `" template="RSYSLOG_TraditionalFileFormat")
*.* action(type="omfile" file="` + all + `" template="RSYSLOG_TraditionalFileFormat")
`
	confPath := filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, rsyslogd, "-n", "-f", confPath, "-i", filepath.Join(dir, "pid"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()

	cases := readCases(t)
	knock := cases[0].line[strings.Index(cases[0].line, "REJECT "):]
	for i := 0; i < 200; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	logger := exec.CommandContext(ctx, "logger", "-u", sock, "-p", "kern.warn", "-t", "kernel", knock)
	if out, err := logger.CombinedOutput(); err != nil {
		t.Fatalf("logger: %v\n%s", err, out)
	}
	p := NewParser("REJECT ", testPorts)
	var forged string
	for i := 0; i < 400 && forged == ""; i++ {
		data, _ := os.ReadFile(all)
		forged = strings.TrimSpace(string(data))
		time.Sleep(25 * time.Millisecond)
	}
	if _, v := p.ParseSyslog([]byte(forged)); v != Knock {
		t.Fatalf("expected the catch-all file's forged line to look like a kernel knock, got %s: %q", v, forged)
	}
	if data, err := os.ReadFile(kern); err == nil && len(data) > 0 {
		t.Fatalf("a user program's kern.warn message reached the kern.* file:\n%s", data)
	}
}
