package kernlog

import (
	"context"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/kk-project/kk/internal/nstest"
)

// shippedLogrotate is the logrotate file make install puts in
// /etc/logrotate.d for installedLog.
const shippedLogrotate = "../../systemd/logrotate.d/knockknock"

// TestShippedLogrotateKeepsFollowing rotates a log with the shipped
// logrotate file (its path moved to a temp directory, its postrotate HUP
// replaced, since it would signal the host's rsyslog): the new file is
// root:adm 0640 as the rsyslog rule creates it, and a follower reads the
// lines written before and after the rotation.
func TestShippedLogrotateKeepsFollowing(t *testing.T) {
	if os.Geteuid() != 0 {
		nstest.Unavailable(t, "needs root for logrotate's create 0640 root adm")
	}
	lr, err := exec.LookPath("logrotate")
	if err != nil {
		nstest.Unavailable(t, "logrotate missing: apt-get install logrotate")
	}
	dir := t.TempDir()
	log := filepath.Join(dir, "kern.log")
	conf := shippedLogrotateFor(t, log)
	confPath := filepath.Join(dir, "logrotate.conf")
	must(t, os.WriteFile(confPath, []byte(conf), 0o644))
	must(t, os.WriteFile(log, nil, 0o640))

	var mu sync.Mutex
	var got []string
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- FollowFile(ctx, log, FileOptions{FromStart: true}, func(l []byte) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, string(l))
		})
	}()
	defer func() { cancel(); <-done }()
	seen := func(line string) func() bool {
		return func() bool { mu.Lock(); defer mu.Unlock(); return strings.Contains(strings.Join(got, "\n"), line) }
	}
	appendTo(t, log, "before rotation")
	await(t, "the line before rotation", seen("before rotation"))
	out, err := exec.Command(lr, "-f", "-s", filepath.Join(dir, "state"), confPath).CombinedOutput()
	if err != nil {
		t.Fatalf("logrotate -f: %v\n%s", err, out)
	}
	if _, err := os.Stat(log + ".1"); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	fi, err := os.Stat(log)
	if err != nil || fi.Mode().Perm() != 0o640 || fi.Sys().(*syscall.Stat_t).Gid != admGID(t) {
		t.Fatalf("after rotation, the new file: %v %v, want 0640 root:adm as the rsyslog rule creates it", fi, err)
	}
	appendTo(t, log, "after rotation")
	await(t, "the line after rotation", seen("after rotation"))
}

// shippedLogrotateFor returns the shipped logrotate file for path, with a
// postrotate script that does nothing.
func shippedLogrotateFor(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(shippedLogrotate)
	must(t, err)
	conf := string(data)
	if !strings.Contains(conf, installedLog+" {") {
		t.Fatalf("%s does not rotate %s", shippedLogrotate, installedLog)
	}
	conf = strings.Replace(conf, installedLog, path, 1)
	return regexp.MustCompile(`(?s)postrotate\n.*?endscript`).ReplaceAllString(conf, "postrotate\n\t\ttrue\n\tendscript")
}

func appendTo(t *testing.T, path, line string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	must(t, err)
	defer f.Close()
	_, err = f.WriteString(line + "\n")
	must(t, err)
}

func admGID(t *testing.T) uint32 {
	t.Helper()
	g, err := user.LookupGroup("adm")
	must(t, err)
	n, err := strconv.Atoi(g.Gid)
	must(t, err)
	return uint32(n)
}
