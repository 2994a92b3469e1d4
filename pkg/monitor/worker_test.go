package monitor

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/kk-project/kk/pkg/firewall"
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
