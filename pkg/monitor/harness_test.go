package monitor

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/kk-project/kk/internal/syncbuf"
	"github.com/kk-project/kk/pkg/config"
	"github.com/kk-project/kk/pkg/firewall"
	"github.com/kk-project/kk/pkg/fwrpc"
	"github.com/kk-project/kk/pkg/kernlog"
	"github.com/kk-project/kk/pkg/knock"
	"github.com/kk-project/kk/pkg/profile"
)

// A harness runs a Monitor against a temporary kern.log, with a
// firewall.Fake served by the real fwrpc gRPC server on a unix socket.
type harness struct {
	t           *testing.T
	dir         string
	logPath     string
	profilesDir string
	stateDir    string // the monitor's counters
	configPath  string
	socket      string
	rsyslogd    string // a stand-in for config.RsyslogdPath; see stat
	fake        *firewall.Fake
	srv         *grpc.Server
	logs        *syncbuf.Buffer
	m           *Monitor
	stop        context.CancelFunc
	finished    chan struct{} // closed when Run returns
	runErr      error
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	dir := t.TempDir()
	h := &harness{
		t: t, dir: dir,
		logPath:     filepath.Join(dir, "kern.log"),
		profilesDir: filepath.Join(dir, "profiles"),
		stateDir:    filepath.Join(dir, "state"),
		configPath:  filepath.Join(dir, "config"),
		socket:      filepath.Join(dir, "firewall.sock"),
		rsyslogd:    filepath.Join(dir, "rsyslogd"),
		fake:        &firewall.Fake{},
		logs:        &syncbuf.Buffer{},
	}
	if err := os.Mkdir(h.profilesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(h.stateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	h.writeConfig("delay = 10\nerror_window = 20\n")
	if err := os.WriteFile(h.rsyslogd, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(h.logPath, []byte("Nov 26 11:00:00 kkhost kernel: booting\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return h
}

// writeConfig writes the configuration with log_file and socket pointing
// into the harness's directory, plus extra keys.
func (h *harness) writeConfig(extra string) {
	h.t.Helper()
	cfg := fmt.Sprintf("[main]\nlog_file = %s\nsocket = %s\n%s", h.logPath, h.socket, extra)
	if err := os.WriteFile(h.configPath, []byte(cfg), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) addProfile(name string, port int) *profile.Profile {
	h.t.Helper()
	p, err := profile.Generate(h.profilesDir, name, port)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := os.MkdirAll(h.stateDir, 0o700); err != nil {
		h.t.Fatal(err)
	}
	// As the monitor loads it: the counter is the state counter.
	if p, err = profile.LoadServer(p.Dir, h.stateDir); err != nil {
		h.t.Fatal(err)
	}
	return p
}

// options returns Options for the harness's files, on a host with rsyslog
// installed: log_source = auto, the default, follows the harness's kern.log.
func (h *harness) options() Options {
	return Options{
		ConfigPath: h.configPath, ProfilesDir: h.profilesDir, StateDir: h.stateDir, AllowRoot: true,
		Logger: slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Stat:   h.stat(true),
	}
}

// stat returns os.Stat on a host where rsyslog is installed or not,
// whatever this host has: config.RsyslogdPath is looked up as h.rsyslogd
// or is missing.
func (h *harness) stat(rsyslog bool) func(string) (fs.FileInfo, error) {
	return func(name string) (fs.FileInfo, error) {
		if name != config.RsyslogdPath {
			return os.Stat(name)
		}
		if !rsyslog {
			return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
		}
		return os.Stat(h.rsyslogd)
	}
}

// startHelper serves the fake firewall on the unix socket.
func (h *harness) startHelper() {
	h.t.Helper()
	os.Remove(h.socket)
	lis, err := net.Listen("unix", h.socket)
	if err != nil {
		h.t.Fatal(err)
	}
	h.srv = fwrpc.NewServer(h.fake, fwrpc.AllowUIDs(uint32(os.Geteuid())), fwrpc.WithLogger(slog.New(slog.DiscardHandler)))
	go h.srv.Serve(lis)
	h.t.Cleanup(h.stopHelper)
}

func (h *harness) stopHelper() {
	if h.srv != nil {
		h.srv.Stop()
		h.srv = nil
	}
}

// start runs the monitor with opts and waits until it follows the log.
func (h *harness) start(opts Options) {
	h.t.Helper()
	h.run(opts)
	h.syncFollower()
}

// run runs the monitor with opts until the test ends, without waiting for
// it to follow anything (a journal cannot be synced by writing to kern.log).
func (h *harness) run(opts Options) {
	h.t.Helper()
	m, err := New(opts)
	if err != nil {
		h.t.Fatal(err)
	}
	h.m = m
	ctx, cancel := context.WithCancel(context.Background())
	finished := make(chan struct{})
	h.stop, h.finished = cancel, finished
	go func() {
		h.runErr = m.Run(ctx)
		close(finished)
	}()
	h.t.Cleanup(func() {
		h.stopMonitor(cancel, finished)
		if h.t.Failed() {
			h.t.Logf("monitor log:\n%s", h.logs.String())
		}
	})
}

// stopMonitor cancels a Run and waits for it to return.
func (h *harness) stopMonitor(cancel context.CancelFunc, finished chan struct{}) {
	cancel()
	select {
	case <-finished:
		if h.runErr != nil {
			h.t.Errorf("Run: %v", h.runErr)
		}
	case <-time.After(20 * time.Second):
		h.t.Error("Run did not return after cancel")
	}
}

// syncFollower appends noise until the monitor has read a line, so lines
// written afterwards are known to be followed.
func (h *harness) syncFollower() {
	h.t.Helper()
	before := h.m.Stats().Lines
	for i := 0; i < 400; i++ {
		h.appendLines(fmt.Sprintf("Nov 26 11:00:01 kkhost kernel: sync %d", i))
		time.Sleep(25 * time.Millisecond)
		if h.m.Stats().Lines > before {
			return
		}
	}
	h.t.Fatal("monitor never read the log")
}

func (h *harness) appendLines(lines ...string) {
	h.t.Helper()
	f, err := os.OpenFile(h.logPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		h.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(strings.Join(lines, "\n") + "\n"); err != nil {
		h.t.Fatal(err)
	}
}

// knockLine returns the kern.log line for a knock from src asking p for
// port, sealed with counter.
func knockLine(p *profile.Profile, counter uint32, port uint16, src string) string {
	f := knock.Encode(&p.Keys, counter, port)
	pkt := kernlog.Packet{Src: netip.MustParseAddr(src), DstPort: p.KnockPort, ID: f.ID, Seq: f.Seq, Ack: f.Ack, Window: f.Window}
	return kernlog.FormatSyslog(time.Now(), "kkhost", "REJECT ", pkt)
}

// forgedLine returns a knock line for p whose ciphertext is damaged.
func forgedLine(p *profile.Profile, src string) string {
	f := knock.Encode(&p.Keys, 0, 22)
	pkt := kernlog.Packet{Src: netip.MustParseAddr(src), DstPort: p.KnockPort, ID: f.ID ^ 1, Seq: f.Seq, Ack: f.Ack, Window: f.Window}
	return kernlog.FormatSyslog(time.Now(), "kkhost", "REJECT ", pkt)
}

// waitFor polls cond for up to 20 s.
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	h.t.Fatalf("timed out waiting for %s; stats %+v; requests %+v", what, h.m.Stats(), h.fake.Requests())
}

// opens returns the requests the fake firewall received for ip and port.
func (h *harness) opens(ip string, port uint16) int {
	n := 0
	for _, r := range h.fake.Requests() {
		if r.IP.String() == ip && r.Port == port {
			n++
		}
	}
	return n
}

// settle gives the monitor time to act on anything it was going to act on,
// before a test checks that something did not happen: it writes a marker
// knock and waits until the monitor has processed it.
func (h *harness) settle(p *profile.Profile, counter uint32) {
	h.t.Helper()
	n := h.opens("198.51.100.99", 9)
	h.appendLines(knockLine(p, counter, 9, "198.51.100.99"))
	h.waitFor("marker knock", func() bool { return h.opens("198.51.100.99", 9) > n })
}

func (h *harness) counter(p *profile.Profile) uint64 {
	h.t.Helper()
	c, err := p.Counter()
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}
