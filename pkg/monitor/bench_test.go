package monitor

import (
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kk-project/kk/pkg/firewall"
	"github.com/kk-project/kk/pkg/kernlog"
	"github.com/kk-project/kk/pkg/profile"
)

// BenchmarkHandleLine measures the per-line path after the follower: parse,
// and for knock candidates verify, for the kinds of line in a busy kern.log.
func BenchmarkHandleLine(b *testing.B) {
	dir := b.TempDir()
	profiles := filepath.Join(dir, "profiles")
	if err := os.Mkdir(profiles, 0o755); err != nil {
		b.Fatal(err)
	}
	p, err := profile.Generate(profiles, "web", 4444)
	if err != nil {
		b.Fatal(err)
	}
	m, err := New(Options{
		ConfigPath: filepath.Join(dir, "none"), ProfilesDir: profiles, StateDir: dir, LogFile: "/dev/null", AllowRoot: true,
		Dial:   func(string) (firewall.Manager, error) { return &firewall.Fake{}, nil },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	src := netip.MustParseAddr("192.0.2.1")
	ts := time.Now()
	lines := map[string]kernlog.Packet{
		"OtherPort":    {Src: src, DstPort: 80, ID: 1, Seq: 2, Ack: 0, Window: 3},
		"GarbageKnock": {Src: src, DstPort: p.KnockPort, ID: 1, Seq: 2, Ack: 3, Window: 4},
	}
	for _, name := range []string{"OtherPort", "GarbageKnock"} {
		line := []byte(kernlog.FormatSyslog(ts, "kkhost", "REJECT ", lines[name]))
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				m.handleSyslog(line)
			}
		})
	}
	if s := m.Stats(); s.Accepted != 0 {
		b.Fatalf("accepted %d garbage knocks", s.Accepted)
	}
}
