package monitor

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kk-project/kk/pkg/kernlog"
	"github.com/kk-project/kk/pkg/knock"
	"github.com/kk-project/kk/pkg/profile"
)

// addV2Profile adds a profile with version = 2.
func (h *harness) addV2Profile(name string, port int) *profile.Profile {
	h.t.Helper()
	p, err := profile.GenerateVersion(h.profilesDir, name, port, -1, nil, 2)
	if err != nil {
		h.t.Fatal(err)
	}
	if p, err = profile.LoadServer(p.Dir, h.stateDir); err != nil {
		h.t.Fatal(err)
	}
	return p
}

// fieldsLine returns the kern.log line for knock fields f sent to p's knock
// port from src: what an attacker who captured f sends.
func fieldsLine(p *profile.Profile, f knock.Fields, src string) string {
	pkt := kernlog.Packet{Src: netip.MustParseAddr(src), DstPort: p.KnockPort, ID: f.ID, Seq: f.Seq, Ack: f.Ack, Window: f.Window}
	return kernlog.FormatSyslog(time.Now(), "kkhost", "REJECT ", pkt)
}

// TestV2StolenKnock: an on-path attacker captures the owner's knock, drops
// it and sends the same four fields from its own address. A v2 profile
// refuses it (and the owner's knock, arriving later, still opens); a v1
// profile opens the port for the attacker, which is v1's documented limit.
func TestV2StolenKnock(t *testing.T) {
	const owner, attacker = "192.0.2.10", "203.0.113.66"
	h := newHarness(t)
	bound := h.addV2Profile("bound", 4445)
	plain := h.addProfile("plain", 4446)
	h.startHelper()
	h.start(h.options())

	f, err := knock.EncodeV2(&bound.Keys, 0, 22,
		knock.Binding{KnockPort: bound.KnockPort, Source: netip.MustParseAddr(owner)})
	if err != nil {
		t.Fatal(err)
	}
	h.appendLines(fieldsLine(bound, f, attacker))
	h.waitFor("refusal of the stolen v2 knock", func() bool { return h.m.Stats().Refused == 1 })
	if !strings.Contains(h.logs.String(), "kk-client --nat-address") {
		t.Errorf("the refusal does not mention --nat-address:\n%s", h.logs.String())
	}
	h.appendLines(fieldsLine(bound, f, owner))
	h.waitFor("the owner's v2 knock", func() bool { return h.opens(owner, 22) == 1 })
	if n := h.opens(attacker, 22); n != 0 {
		t.Fatalf("v2: the stolen knock opened port 22 for the attacker %d times", n)
	}

	// v1: the same theft works.
	h.appendLines(fieldsLine(plain, knock.Encode(&plain.Keys, 0, 22), attacker))
	h.waitFor("v1 stolen knock opening for the attacker", func() bool { return h.opens(attacker, 22) == 1 })
}

// TestSwitchToV2KeepsCounter: editing a served profile's config to
// version = 2 and reloading switches it to v2 knocks, with its counter kept.
func TestSwitchToV2KeepsCounter(t *testing.T) {
	const owner = "192.0.2.10"
	h := newHarness(t)
	p := h.addProfile("web", 4447)
	h.startHelper()
	h.start(h.options())
	h.appendLines(knockLine(p, 0, 22, owner))
	h.waitFor("the v1 knock", func() bool { return h.opens(owner, 22) == 1 })

	cfg := "[main]\nknock_port = 4447\nversion = 2\n"
	if err := os.WriteFile(filepath.Join(p.Dir, profile.ConfigFile), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := h.m.Reload(); err != nil {
		t.Fatal(err)
	}
	h.appendLines(knockLine(p, 1, 80, owner)) // v1 knocks are refused now
	h.waitFor("refusal of a v1 knock", func() bool { return h.m.Stats().Refused == 1 })
	f, err := knock.EncodeV2(&p.Keys, 1, 443, knock.Binding{KnockPort: 4447, Source: netip.MustParseAddr(owner)})
	if err != nil {
		t.Fatal(err)
	}
	h.appendLines(fieldsLine(p, f, owner))
	h.waitFor("the v2 knock with the next counter", func() bool { return h.opens(owner, 443) == 1 })
	if n := h.opens(owner, 80); n != 0 {
		t.Errorf("the v1 knock after the switch opened port 80 %d times", n)
	}
	if c := h.counter(p); c != 2 {
		t.Errorf("counter %d, want 2", c)
	}
}
