package monitor

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/kk-project/kk/pkg/firewall"
	"github.com/kk-project/kk/pkg/knock"
	"github.com/kk-project/kk/pkg/profile"
)

// heldFirewall is a fake kk-firewall whose Open waits until release is
// closed, as a slow or restarting helper does.
type heldFirewall struct {
	*firewall.Fake
	entered chan struct{} // a value per Open that has started
	release chan struct{}
}

func (f *heldFirewall) Open(ctx context.Context, req firewall.OpenRequest) (firewall.Opening, error) {
	f.entered <- struct{}{}
	<-f.release
	return f.Fake.Open(ctx, req)
}

// TestFollowerReadsOnWhileKnockOpens: while kk-firewall holds a knock's
// Open, the follower goes on reading the log, and the knocks behind the
// held one wait in order, each recorded and opened once it is released.
// Stopping the monitor then opens no knock twice and loses none.
func TestFollowerReadsOnWhileKnockOpens(t *testing.T) {
	h := newHarness(t)
	p := h.addProfile("web", 4444)
	fw := &heldFirewall{Fake: h.fake, entered: make(chan struct{}, 10), release: make(chan struct{})}
	opts := h.options()
	opts.Dial = func(string) (firewall.Manager, error) { return fw, nil }
	h.start(opts)

	h.appendLines(knockLine(p, 0, 22, "192.0.2.10"))
	<-fw.entered // the worker is in Open, holding this knock
	before := h.m.Stats().Lines
	var noise []string
	for i := range 500 {
		noise = append(noise, fmt.Sprintf("Nov 26 11:00:02 kkhost kernel: noise %d", i))
	}
	h.appendLines(noise...)
	h.appendLines(knockLine(p, 1, 22, "192.0.2.11"), knockLine(p, 2, 22, "192.0.2.12"))
	h.waitFor("the follower to read past the held knock", func() bool { return h.m.Stats().Lines >= before+502 })
	if n := len(h.fake.Requests()); n != 0 {
		t.Fatalf("%d openings while the first was held, want 0", n)
	}
	if c := h.counter(p); c != 1 {
		t.Fatalf("counter on disk %d while the first knock's Open is held, want 1: the knocks behind it must wait", c)
	}

	close(fw.release)
	h.waitFor("three openings", func() bool { return len(h.fake.Requests()) == 3 })
	for i, r := range h.fake.Requests() {
		if want := fmt.Sprintf("192.0.2.1%d", i); r.IP.String() != want {
			t.Errorf("opening %d for %s, want %s: knocks must be opened in log order", i, r.IP, want)
		}
	}
	if c := h.counter(p); c != 3 {
		t.Errorf("counter on disk %d, want 3", c)
	}
	h.stopMonitor(h.stop, h.finished)
	if s := h.m.Stats(); s.Accepted != 3 || s.Opened != 3 {
		t.Errorf("stats %+v, want 3 accepted and 3 opened", s)
	}
	if strings.Contains(h.logs.String(), "did not open") {
		t.Errorf("an opening failed:\n%s", h.logs.String())
	}
}

// verifierOf returns the verifier the monitor holds for a knock port.
func (h *harness) verifierOf(port uint16) (v *knock.Verifier, counter uint64) {
	h.m.knockMu.Lock()
	defer h.m.knockMu.Unlock()
	if s := h.m.state.Load().byPort[port]; s != nil && s.verifier != nil {
		return s.verifier, s.verifier.Counter()
	}
	return nil, 0
}

// TestReloadKeepsVerifierAndMovesIt: a reload takes over an unchanged
// profile's verifier (its learnt filter and Set are not rebuilt) and moves
// it up to the counter on disk, which another process may have moved; a
// knock used before the reload, or below that counter, is refused.
func TestReloadKeepsVerifierAndMovesIt(t *testing.T) {
	h := newHarness(t)
	p := h.addProfile("web", 4444)
	h.startHelper()
	h.start(h.options())
	used := knockLine(p, 0, 22, "192.0.2.10")
	h.appendLines(used)
	h.waitFor("the first opening", func() bool { return h.opens("192.0.2.10", 22) == 1 })
	before, _ := h.verifierOf(4444)
	if before == nil {
		t.Fatal("no verifier after a knock")
	}
	// Another process moves the counter on disk to 5.
	sp, err := profile.LoadServer(p.Dir, h.stateDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := sp.UpdateCounter(func(uint64) (uint64, error) { return 5, nil }); err != nil {
		t.Fatal(err)
	}
	if err := h.m.Reload(); err != nil {
		t.Fatal(err)
	}
	if after, c := h.verifierOf(4444); after != before || c != 5 {
		t.Errorf("after the reload: same verifier %v, its counter %d; want the same, moved to the disk's 5", after == before, c)
	}
	refused := h.m.Stats().Refused
	h.appendLines(used, knockLine(p, 3, 22, "192.0.2.11"))
	h.waitFor("two refusals", func() bool { return h.m.Stats().Refused >= refused+2 })
	h.appendLines(knockLine(p, 5, 22, "192.0.2.12"))
	h.waitFor("the knock at the counter on disk", func() bool { return h.opens("192.0.2.12", 22) == 1 })
	if n, m := h.opens("192.0.2.10", 22), h.opens("192.0.2.11", 22); n != 1 || m != 0 {
		t.Errorf("opens: replayed knock %d (want 1, the first), knock below the disk's counter %d (want 0)", n, m)
	}
}
