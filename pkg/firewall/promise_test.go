package firewall

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// logRig is a rig whose manager logs into a buffer.
func logRig(t *testing.T, p Policy) (*rig, *bytes.Buffer) {
	t.Helper()
	r := &rig{v4: newFakeIPT(), v6: newFakeIPT(), clock: &clock{t: start}}
	var buf bytes.Buffer
	m, err := newIPTables(r.v4, r.v6, Config{Policy: p, Now: r.clock.Now, Log: slog.New(slog.NewTextHandler(&buf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	r.m = m
	return r, &buf
}

func TestOpenPutsTheJumpBackFirst(t *testing.T) {
	drop := []string{"-p", "tcp", "-j", "DROP"}
	for _, tc := range []struct {
		name  string
		spoil func(f *fakeIPT)
		warn  string
	}{
		{"deleted", func(f *fakeIPT) { f.Delete(table, "INPUT", jumpSpec...) }, "was missing"},
		{"flushed", func(f *fakeIPT) { f.chains["INPUT"] = nil }, "was missing"},
		{"displaced", func(f *fakeIPT) { f.Insert(table, "INPUT", 1, drop...) }, "was not the first INPUT rule"},
		{"duplicated", func(f *fakeIPT) { f.Append(table, "INPUT", drop...); f.Append(table, "INPUT", jumpSpec...) }, "was not the first INPUT rule"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, log := logRig(t, Policy{})
			for _, ip := range []string{"192.0.2.7", "2001:db8::7"} {
				f := r.v4
				if strings.Contains(ip, ":") {
					f = r.v6
				}
				tc.spoil(f)
				r.open(t, ip, 22, 5*time.Second)
				got := f.dump("INPUT")
				if len(got) < 2 || got[1] != jumpLine || slices.Contains(got[2:], jumpLine) {
					t.Errorf("%s: INPUT after Open = %q, want one jump, first", ip, got)
				}
			}
			if n := strings.Count(log.String(), tc.warn+"; re-inserted it at position 1"); n != 2 {
				t.Errorf("%d warnings %q, want one per family:\n%s", n, tc.warn, log)
			}
			if !strings.Contains(log.String(), "probable_cause=") {
				t.Errorf("warning does not name a probable cause:\n%s", log)
			}
		})
	}
}

// TestOpenFailsIfTheJumpCannotBePutBack: the rule goes in before the jump
// is checked; if the missing jump cannot be restored, Open fails, the rule
// is deleted again and nothing is counted as open.
func TestOpenFailsIfTheJumpCannotBePutBack(t *testing.T) {
	r, _ := logRig(t, Policy{})
	r.v4.Delete(table, "INPUT", jumpSpec...)
	r.v4.failInsert = errors.New("iptables: Resource temporarily unavailable")
	_, err := r.m.Open(context.Background(), OpenRequest{IP: netip.MustParseAddr("192.0.2.7"), Port: 22, Duration: 5 * time.Second, Profile: "home"})
	if err == nil || !strings.Contains(err.Error(), "inserting INPUT jump") {
		t.Fatalf("Open with no jump and a failing insert: %v", err)
	}
	if got := r.v4.dump(Chain); len(got) != 1 {
		t.Errorf("chain after the failed Open = %q, want no rule", got)
	}
	if n := r.m.Pending(); n != 0 {
		t.Errorf("Pending = %d after a failed Open", n)
	}
	r.v4.failInsert = nil
	r.open(t, "192.0.2.7", 22, 5*time.Second)
	if got := r.v4.dump("INPUT"); len(got) != 2 || got[1] != jumpLine {
		t.Errorf("INPUT after the retry = %q", got)
	}
}

func TestOpenWithJumpInPlaceTouchesOnlyChain(t *testing.T) {
	r, log := logRig(t, Policy{})
	before := r.v4.dump("INPUT")
	r.open(t, "192.0.2.7", 22, 5*time.Second)
	if got := r.v4.dump("INPUT"); !slices.Equal(got, before) || strings.Contains(log.String(), "WARN") {
		t.Errorf("INPUT %q (was %q), log:\n%s", got, before, log)
	}
}

// TestLimitCannotRefillWithinAnOpening checks the kernel semantics the rule
// relies on: -m limit with --limit-burst 1 admits one packet, then one more
// per period. No opening may last a period.
func TestLimitCannotRefillWithinAnOpening(t *testing.T) {
	spec := strings.Join(ruleSpec(Opening{IP: netip.MustParseAddr("192.0.2.7"), Port: 22, Deadline: start}), " ")
	m := regexp.MustCompile(`-m limit --limit (\d+)/(second|minute|hour|day|sec|min) --limit-burst 1 `).FindStringSubmatch(spec)
	if m == nil {
		t.Fatalf("rule %q has no -m limit with --limit-burst 1", spec)
	}
	n, _ := strconv.Atoi(m[1])
	unit := map[string]time.Duration{"second": time.Second, "sec": time.Second, "minute": time.Minute, "min": time.Minute, "hour": time.Hour, "day": 24 * time.Hour}[m[2]]
	refill := unit / time.Duration(n)
	longest := (&Policy{MaxDuration: 1000 * time.Hour}).maxDuration()
	if refill < 2*longest {
		t.Fatalf("the limit refills after %v, but an opening may last %v: a long opening admits a second connection", refill, longest)
	}
	if d := (&Policy{}).maxDuration(); d > longest {
		t.Fatalf("default max duration %v over the cap %v", d, longest)
	}
}

func TestSweepCapsAdoptedRulesAtMaxDuration(t *testing.T) {
	r := newRig(t, Policy{})
	far := Opening{IP: netip.MustParseAddr("192.0.2.7"), Port: 22, Deadline: time.Date(2037, 1, 1, 0, 0, 0, 0, time.UTC), Profile: "planted"}
	near := r.open(t, "192.0.2.8", 22, 60*time.Second)
	r.v4.Append(table, Chain, ruleSpec(far)...)
	r.m.Close()
	var buf bytes.Buffer
	m, err := newIPTables(r.v4, r.v6, Config{Policy: Policy{MaxDuration: 90 * time.Second}, Now: r.clock.Now, Log: slog.New(slog.NewTextHandler(&buf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	capped := far
	capped.Deadline = start.Add(90 * time.Second)
	if got := r.v4.dump(Chain); !slices.Equal(got, []string{"-N " + Chain, ruleLine(near), ruleLine(capped)}) {
		t.Fatalf("chain after restart = %q\nwant the 2037 rule capped at %v", got, capped.Deadline)
	}
	if got, _ := m.List(t.Context()); !slices.Equal(got, []Opening{capped, near}) {
		t.Fatalf("List = %v, want %v", got, []Opening{capped, near})
	}
	if !strings.Contains(buf.String(), "capped it") || !strings.Contains(buf.String(), "deadline=2037-01-01T00:00:00") {
		t.Errorf("capping not logged with the old deadline:\n%s", buf.String())
	}
	r.clock.Advance(90 * time.Second)
	m.expire()
	if got := r.v4.dump(Chain); len(got) != 1 || m.Pending() != 0 {
		t.Fatalf("capped rule not removed at its new deadline: %q, pending %d", got, m.Pending())
	}
}

// TestRefusalsWithoutAllowPorts runs the refusal table under the zero
// Policy, where no port list hides a missing range check (port 0).
func TestRefusalsWithoutAllowPorts(t *testing.T) {
	r := newRig(t, Policy{})
	for _, tc := range refusals {
		if strings.HasPrefix(tc.name, "port not allowed") {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			if _, err := r.m.Open(t.Context(), tc.req); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Open(%+v) = %v, want ErrInvalid", tc.req, err)
			}
		})
	}
	if err := r.m.Revoke(t.Context(), netip.MustParseAddr("192.0.2.1"), 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("Revoke port 0 = %v, want ErrInvalid", err)
	}
	if got := r.v4.dump(Chain); len(got) != 1 {
		t.Errorf("refusals changed the chain: %q", got)
	}
}

// TestSameSecondReopenChecksJumpAndRule reopens within the same second,
// which needs no new rule, after the jump and then the rule were deleted:
// both must be back.
func TestSameSecondReopenChecksJumpAndRule(t *testing.T) {
	r, log := logRig(t, Policy{})
	o := r.open(t, "192.0.2.7", 22, 5*time.Second)
	r.v4.Delete(table, "INPUT", jumpSpec...)
	r.open(t, "192.0.2.7", 22, 5*time.Second)
	if got := r.v4.dump("INPUT"); len(got) != 2 || got[1] != jumpLine || !strings.Contains(log.String(), "was missing") {
		t.Errorf("INPUT after a same-second reopen = %q, log:\n%s", got, log)
	}
	r.v4.Delete(table, Chain, ruleSpec(o)...)
	r.open(t, "192.0.2.7", 22, 5*time.Second)
	if got := r.v4.dump(Chain); !slices.Equal(got, []string{"-N " + Chain, ruleLine(o)}) {
		t.Errorf("chain after a same-second reopen of a deleted rule = %q", got)
	}
}
