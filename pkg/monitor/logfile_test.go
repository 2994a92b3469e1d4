package monitor

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// TestLogFileNotRegularWarns: a log file that is a FIFO is warned about at
// once, naming the file and the fix, again only every few minutes, and is
// followed once a regular file replaces it.
func TestLogFileNotRegularWarns(t *testing.T) {
	h := newHarness(t)
	h.writeConfig("log_source = file\n")
	must(t, os.Remove(h.logPath))
	must(t, syscall.Mkfifo(h.logPath, 0o644))
	opts, w := h.watchOptions(h.options())
	w.run(opts)
	warning := "log file " + h.logPath + " is a FIFO (named pipe), not a regular file: log_file must be a regular file; " +
		"point log_file in " + h.configPath + " at rsyslog's kern.log"
	h.waitFor("the not-regular warning", func() bool { return h.count(warning) == 1 })
	w.tick(missingEvery - time.Second)
	if n := h.count(warning); n != 1 {
		t.Errorf("warned %d times within %s, want once", n, missingEvery)
	}
	w.tick(time.Second)
	if n := h.count(warning); n != 2 {
		t.Errorf("warned %d times after %s, want twice", n, missingEvery)
	}
	if n := h.count("no kernel log line"); n != 0 {
		t.Errorf("silence warned %d times while the file is a FIFO", n)
	}

	must(t, os.Remove(h.logPath))
	h.syncFollower()
	w.tick(time.Second)
	if n := h.count("log file " + h.logPath + " exists now as a regular file"); n != 1 {
		t.Errorf("the regular file logged %d times, want once:\n%s", n, h.logs.String())
	}
}
