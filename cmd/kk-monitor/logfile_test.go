package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSpecialLogFile runs kk-monitor with a log file that is no regular
// file. It must say so, naming the file and the fix, use next to no CPU,
// still reload on SIGHUP, and exit promptly on SIGTERM.
func TestSpecialLogFile(t *testing.T) {
	dir := t.TempDir()
	fifo, sub, link := filepath.Join(dir, "fifo"), filepath.Join(dir, "dir"), filepath.Join(dir, "link")
	must(t, syscall.Mkfifo(fifo, 0o644))
	must(t, os.Mkdir(sub, 0o755))
	must(t, os.Symlink("/dev/zero", link))
	tests := []struct{ name, path, kind string }{
		{"char device", "/dev/zero", "a character device"},
		{"FIFO", fifo, "a FIFO (named pipe)"},
		{"directory", sub, "a directory"},
		{"symlink to a device", link, "a character device"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSetup(t)
			cmd, logs := s.start("--log", tt.path)
			want := "log file " + tt.path + " is " + tt.kind + ", not a regular file: log_file must be a regular file; " +
				"point log_file in " + s.config + " at rsyslog's kern.log"
			waitUntil(t, "the warning", 10*time.Second, func() bool { return strings.Contains(logs(), want) })
			must(t, cmd.Process.Signal(syscall.SIGHUP))
			waitUntil(t, "the reload", 10*time.Second, func() bool {
				return strings.Count(logs(), `msg="configuration loaded"`) == 2
			})
			before := cpuTicks(t, cmd.Process.Pid)
			time.Sleep(time.Second)
			if used := cpuTicks(t, cmd.Process.Pid) - before; used > 20 {
				t.Errorf("used %d clock ticks of CPU in a second", used)
			}
			must(t, cmd.Process.Signal(syscall.SIGTERM))
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			select {
			case err := <-exited:
				if err != nil {
					t.Errorf("exit after SIGTERM: %v\n%s", err, logs())
				}
			case <-time.After(2 * time.Second):
				t.Fatalf("still running 2s after SIGTERM:\n%s", logs())
			}
		})
	}
}

// cpuTicks returns the user and system CPU time of process pid, in clock
// ticks (usually 100 a second), from /proc/pid/stat.
func cpuTicks(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	must(t, err)
	// Fields after the command name, which is in parentheses: utime and
	// stime are the 12th and 13th.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	utime, err1 := strconv.Atoi(f[11])
	stime, err2 := strconv.Atoi(f[12])
	if err1 != nil || err2 != nil {
		t.Fatalf("parsing /proc/%d/stat: %q", pid, b)
	}
	return utime + stime
}
