package monitor

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kk-project/kk/pkg/firewall"
	"github.com/kk-project/kk/pkg/kernlog"
	"github.com/kk-project/kk/pkg/knock"
	"github.com/kk-project/kk/pkg/profile"
)

// BenchmarkHandleLine measures the per-line work for the kinds of line in a
// busy kern.log: the follower's parse and, for a knock candidate, the knock
// worker's verification as well (both goroutines' work, one after the
// other).
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
		"OtherPrefix":  {Src: src, DstPort: p.KnockPort, ID: 1, Seq: 2, Ack: 3, Window: 4},
		"OtherPort":    {Src: src, DstPort: 80, ID: 1, Seq: 2, Ack: 0, Window: 3},
		"GarbageKnock": {Src: src, DstPort: p.KnockPort, ID: 1, Seq: 2, Ack: 3, Window: 4},
	}
	for _, name := range []string{"OtherPrefix", "OtherPort", "GarbageKnock"} {
		prefix := "REJECT "
		if name == "OtherPrefix" { // another LOG rule's line
			prefix = "DROP "
		}
		line := []byte(kernlog.FormatSyslog(ts, "kkhost", prefix, lines[name]))
		handle := m.handleSyslog
		if name == "GarbageKnock" {
			handle = func(line []byte) {
				pkt, v := m.state.Load().parser.ParseSyslog(line)
				if v != kernlog.Knock {
					b.Fatalf("a garbage knock parsed as %s", v)
				}
				m.handleCandidate(context.Background(), candidate{pkt: pkt})
			}
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				handle(line)
			}
		})
	}
	if s := m.Stats(); s.Accepted != 0 {
		b.Fatalf("accepted %d garbage knocks", s.Accepted)
	}
}

// BenchmarkMatchGarbage is the cost of a garbage knock on a profile's knock
// port: the error_window filter alone, or a profile with allowed_ports,
// whose Set looks knock.SetWindow counters ahead before the filter runs.
func BenchmarkMatchGarbage(b *testing.B) {
	for _, bc := range []struct {
		name    string
		allowed []uint16
	}{
		{"Window20", nil},
		{"Window20AllowedPorts3Set16384", []uint16{22, 443, 2222}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			dir := b.TempDir()
			p, err := profile.GenerateAllowing(filepath.Join(dir, "profiles"), "web", 4444, -1, bc.allowed)
			if err != nil {
				b.Fatal(err)
			}
			if p, err = profile.LoadServer(p.Dir, dir); err != nil {
				b.Fatal(err)
			}
			s := &served{prof: p, window: 20}
			if err := s.ensureVerifier(); err != nil {
				b.Fatal(err)
			}
			junk := make([]knock.Fields, 1024)
			for i := range junk {
				var raw [knock.Size]byte
				rand.Read(raw[:])
				junk[i] = knock.FieldsFromBytes(raw)
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if _, _, ok := s.match(junk[i&1023], knock.Binding{}); ok {
					b.Fatal("random bytes accepted")
				}
			}
		})
	}
}
