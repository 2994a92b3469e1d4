package monitor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kk-project/kk/pkg/profile"

	"github.com/kk-project/kk/internal/nstest"
)

func TestValidKnockOpensOnce(t *testing.T) {
	h := newHarness(t)
	p := h.addProfile("web", 4444)
	h.startHelper()
	h.start(h.options())
	h.appendLines(knockLine(p, 0, 22, "192.0.2.10"))
	h.waitFor("open", func() bool { return h.opens("192.0.2.10", 22) == 1 })
	h.settle(p, 1)
	if n := h.opens("192.0.2.10", 22); n != 1 {
		t.Fatalf("%d opens, want 1", n)
	}
	r := h.fake.Requests()[0]
	if r.Duration != 10*time.Second || r.Profile != "web" {
		t.Errorf("request %+v, want 10s for profile web", r)
	}
	if c := h.counter(p); c != 2 {
		t.Errorf("counter on disk %d, want 2", c)
	}
	if !strings.Contains(h.logs.String(), `msg="knock accepted" profile=web src=192.0.2.10 port=22 deadline=`) {
		t.Errorf("no accepted-knock log line:\n%s", h.logs.String())
	}
	if strings.Contains(h.logs.String(), "level=ERROR") {
		t.Errorf("errors logged:\n%s", h.logs.String())
	}
}

// TestProfileWithAnyNameOpens: a profile copied from an original install
// may have a name kk-firewall would refuse in a rule comment; the monitor
// sends a label made of the allowed characters instead.
func TestProfileWithAnyNameOpens(t *testing.T) {
	h := newHarness(t)
	p := h.addProfile("clement laptop@home", 4444)
	h.startHelper()
	h.start(h.options())
	h.appendLines(knockLine(p, 0, 22, "192.0.2.10"))
	h.waitFor("open", func() bool { return h.opens("192.0.2.10", 22) == 1 })
	if r := h.fake.Requests()[0]; r.Profile != "clement_laptop_home" {
		t.Errorf("profile label %q, want clement_laptop_home", r.Profile)
	}
}

func TestReplayDoesNotOpen(t *testing.T) {
	h := newHarness(t)
	p := h.addProfile("web", 4444)
	h.startHelper()
	h.start(h.options())
	line := knockLine(p, 0, 22, "192.0.2.10")
	h.appendLines(line)
	h.waitFor("open", func() bool { return h.opens("192.0.2.10", 22) == 1 })
	// The same packet again, from the same and from another address.
	h.appendLines(line, strings.Replace(line, "SRC=192.0.2.10", "SRC=192.0.2.66", 1))
	h.settle(p, 1)
	if n := h.opens("192.0.2.10", 22) + h.opens("192.0.2.66", 22); n != 1 {
		t.Fatalf("%d opens after replays, want 1", n)
	}
	if s := h.m.Stats(); s.Refused != 2 || s.Accepted != 2 {
		t.Errorf("stats %+v, want 2 refused, 2 accepted", s)
	}
}

func TestReplayAfterRestartDoesNotOpen(t *testing.T) {
	h := newHarness(t)
	p := h.addProfile("web", 4444)
	h.startHelper()
	h.start(h.options())
	line := knockLine(p, 0, 22, "192.0.2.10")
	h.appendLines(line)
	h.waitFor("open", func() bool { return h.opens("192.0.2.10", 22) == 1 })
	h.stopMonitor(h.stop, h.finished)
	// A new monitor reads the whole log again: the old knock is refused.
	opts := h.options()
	opts.FromStart = true
	h.start(opts)
	h.settle(p, 1)
	if n := h.opens("192.0.2.10", 22); n != 1 {
		t.Fatalf("%d opens, want 1", n)
	}
}

func TestRefusalsLoggedOncePerSecond(t *testing.T) {
	h := newHarness(t)
	p := h.addProfile("web", 4444)
	h.startHelper()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	var clock = make(chan time.Time, 1)
	clock <- now
	opts := h.options()
	opts.Now = func() time.Time { t := <-clock; clock <- t; return t }
	h.start(opts)
	forged := forgedLine(p, "192.0.2.10")
	for i := 0; i < 5; i++ {
		h.appendLines(forged)
	}
	h.settle(p, 0)
	<-clock
	clock <- now.Add(1500 * time.Millisecond)
	h.appendLines(forged)
	h.settle(p, 1)
	logged := strings.Count(h.logs.String(), `msg="knock refused"`)
	if logged != 2 {
		t.Fatalf("%d refusal lines, want 2:\n%s", logged, h.logs.String())
	}
	if !strings.Contains(h.logs.String(), "suppressed=4") {
		t.Errorf("second refusal line does not report 4 suppressed:\n%s", h.logs.String())
	}
	if s := h.m.Stats(); s.Refused != 6 {
		t.Errorf("refused %d, want 6", s.Refused)
	}
}

func TestLogrotateLosesNoKnock(t *testing.T) {
	h := newHarness(t)
	p := h.addProfile("web", 4444)
	h.startHelper()
	h.start(h.options())
	counter := uint32(0)
	knockAndWait := func(port uint16) {
		h.appendLines(knockLine(p, counter, port, "192.0.2.10"))
		counter++
		h.waitFor("open", func() bool { return h.opens("192.0.2.10", port) == 1 })
	}
	knockAndWait(100)
	// logrotate's default: rename, then the logger creates a new file.
	if err := os.Rename(h.logPath, h.logPath+".1"); err != nil {
		t.Fatal(err)
	}
	knockAndWait(101)
	knockAndWait(102)
	// logrotate's copytruncate.
	data, err := os.ReadFile(h.logPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(h.logPath+".2", data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(h.logPath, 0); err != nil {
		t.Fatal(err)
	}
	knockAndWait(103)
	knockAndWait(104)
	h.settle(p, counter)
	for port := uint16(100); port <= 104; port++ {
		if n := h.opens("192.0.2.10", port); n != 1 {
			t.Errorf("port %d opened %d times, want 1", port, n)
		}
	}
}

func TestHelperDownThenUp(t *testing.T) {
	h := newHarness(t)
	p := h.addProfile("web", 4444)
	h.startHelper()
	h.start(h.options())
	h.settle(p, 0) // the monitor is connected
	h.stopHelper()
	h.appendLines(knockLine(p, 1, 22, "192.0.2.10"))
	time.Sleep(1500 * time.Millisecond)
	if n := h.opens("192.0.2.10", 22); n != 0 {
		t.Fatalf("%d opens while the helper was down", n)
	}
	h.startHelper()
	h.waitFor("open after the helper came back", func() bool { return h.opens("192.0.2.10", 22) == 1 })
	if s := h.m.Stats(); s.Failed != 0 {
		t.Errorf("stats %+v, want no failure", s)
	}
}

func TestHelperDownLogsErrorNamingSocket(t *testing.T) {
	h := newHarness(t)
	p := h.addProfile("web", 4444)
	opts := h.options()
	opts.RetryFor = 500 * time.Millisecond
	h.start(opts)
	h.appendLines(knockLine(p, 0, 22, "192.0.2.10"))
	h.waitFor("failure", func() bool { return h.m.Stats().Failed == 1 })
	logs := h.logs.String()
	if !strings.Contains(logs, "level=ERROR") || !strings.Contains(logs, h.socket) || !strings.Contains(logs, "src=192.0.2.10 port=22") {
		t.Errorf("no error naming the socket and the knock:\n%s", logs)
	}
	if c := h.counter(p); c != 1 {
		t.Errorf("counter %d, want 1: the counter is persisted before asking", c)
	}
}

func TestReloadAddsAndRemovesProfiles(t *testing.T) {
	h := newHarness(t)
	web := h.addProfile("web", 4444)
	h.startHelper()
	h.start(h.options())
	h.settle(web, 0)

	ssh, err := h.addProfileLater("ssh", 5555)
	if err != nil {
		t.Fatal(err)
	}
	h.appendLines(knockLine(ssh, 0, 22, "192.0.2.20"))
	h.settle(web, 1)
	if n := h.opens("192.0.2.20", 22); n != 0 {
		t.Fatalf("profile added without reload was served (%d opens)", n)
	}
	if err := h.m.Reload(); err != nil {
		t.Fatal(err)
	}
	h.appendLines(knockLine(ssh, 1, 22, "192.0.2.20"))
	h.waitFor("open by the added profile", func() bool { return h.opens("192.0.2.20", 22) == 1 })

	if err := os.RemoveAll(web.Dir); err != nil {
		t.Fatal(err)
	}
	if err := h.m.Reload(); err != nil {
		t.Fatal(err)
	}
	h.appendLines(knockLine(web, 2, 80, "192.0.2.30"))
	h.settle(ssh, 2)
	if n := h.opens("192.0.2.30", 80); n != 0 {
		t.Fatalf("removed profile still served (%d opens)", n)
	}
}

// addProfileLater creates a profile while the monitor runs.
func (h *harness) addProfileLater(name string, port int) (*profile.Profile, error) {
	return h.addProfile(name, port), nil
}

func TestDuplicateKnockPortsServeNeither(t *testing.T) {
	h := newHarness(t)
	a := h.addProfile("alpha", 4444)
	other := h.addProfile("other", 6000)
	// A copy of alpha under another name: same knock port.
	copyDir(t, a.Dir, filepath.Join(h.profilesDir, "beta"))
	h.startHelper()
	h.start(h.options())
	h.appendLines(knockLine(a, 0, 22, "192.0.2.10"))
	h.settle(other, 0)
	if n := h.opens("192.0.2.10", 22); n != 0 {
		t.Fatalf("a profile with a duplicate knock port was served")
	}
	logs := h.logs.String()
	if !strings.Contains(logs, "alpha") || !strings.Contains(logs, "beta") || !strings.Contains(logs, "level=ERROR") {
		t.Errorf("no error naming both profiles:\n%s", logs)
	}
}

func TestNoProfileWarnsAndKeepsRunning(t *testing.T) {
	h := newHarness(t)
	h.startHelper()
	h.start(h.options())
	if !strings.Contains(h.logs.String(), "level=WARN msg=\"no valid profile") {
		t.Errorf("no warning:\n%s", h.logs.String())
	}
	p := h.addProfile("web", 4444)
	if err := h.m.Reload(); err != nil {
		t.Fatal(err)
	}
	h.appendLines(knockLine(p, 0, 22, "192.0.2.10"))
	h.waitFor("open", func() bool { return h.opens("192.0.2.10", 22) == 1 })
}

func TestBadProfileSkipped(t *testing.T) {
	h := newHarness(t)
	bad := h.addProfile("bad", 4000)
	good := h.addProfile("good", 4444)
	if err := os.WriteFile(filepath.Join(bad.Dir, "mac.key"), []byte("not base64!\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.startHelper()
	h.start(h.options())
	h.appendLines(knockLine(good, 0, 22, "192.0.2.10"))
	h.waitFor("open", func() bool { return h.opens("192.0.2.10", 22) == 1 })
	if !strings.Contains(h.logs.String(), filepath.Join(bad.Dir, "mac.key")) {
		t.Errorf("no error naming the bad file:\n%s", h.logs.String())
	}
}

func TestRefuseRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		nstest.Unavailable(t, "only meaningful as root")
	}
	h := newHarness(t)
	opts := h.options()
	opts.AllowRoot = false
	_, err := New(opts)
	if err == nil || !strings.Contains(err.Error(), "--allow-root") {
		t.Fatalf("New as root: %v, want a refusal naming --allow-root", err)
	}
}

func TestBadConfigIsAnError(t *testing.T) {
	h := newHarness(t)
	h.writeConfig("delay = soon\n")
	_, err := New(h.options())
	if err == nil || !strings.Contains(err.Error(), h.configPath) {
		t.Fatalf("error %v does not name %s", err, h.configPath)
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Mkdir(to, 0o700); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReloadSwitchesLogFile(t *testing.T) {
	h := newHarness(t)
	p := h.addProfile("web", 4444)
	h.startHelper()
	h.start(h.options())
	h.settle(p, 0)
	// Point log_file elsewhere and reload: the new file is followed.
	old := h.logPath
	h.logPath = filepath.Join(h.dir, "kern2.log")
	h.writeConfig("delay = 10\n")
	h.appendLines("Nov 26 11:00:00 kkhost kernel: new file")
	if err := h.m.Reload(); err != nil {
		t.Fatal(err)
	}
	h.syncFollower()
	h.appendLines(knockLine(p, 1, 22, "192.0.2.10"))
	h.waitFor("open from the new file", func() bool { return h.opens("192.0.2.10", 22) == 1 })
	// The old file is no longer followed.
	h.logPath = old
	h.appendLines(knockLine(p, 2, 23, "192.0.2.10"))
	h.logPath = filepath.Join(h.dir, "kern2.log")
	h.settle(p, 3)
	if n := h.opens("192.0.2.10", 23); n != 0 {
		t.Errorf("knock in the old file opened %d times", n)
	}
}
