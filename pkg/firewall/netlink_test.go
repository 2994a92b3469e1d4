package firewall

import (
	"bytes"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"
)

// fakeNetlink is a netlinkWriter over a fakeIPT: it writes spec(o), which
// is ruleSpec unless a test makes it write something else, and counts its
// calls.
type fakeNetlink struct {
	ipt       *fakeIPT
	spec      func(Opening) []string
	appendErr error
	appends   int
}

func (f *fakeNetlink) Append(chain string, o Opening) error {
	f.appends++
	if f.appendErr != nil {
		return f.appendErr
	}
	return f.ipt.Append(table, chain, f.spec(o)...)
}

func (f *fakeNetlink) JumpFirst() (bool, error) {
	rs := rules(f.ipt.dump("INPUT"))
	return len(rs) > 0 && rs[0] == jumpLine && !slices.Contains(rs[1:], jumpLine), nil
}

func (f *fakeNetlink) Delete(chain string, o Opening) (int, error) {
	n := 0
	for f.ipt.Delete(table, chain, f.spec(o)...) == nil {
		n++
	}
	return n, nil
}

// netlinkFakeRig starts a manager whose netlink writers are nl4 and nl6.
func netlinkFakeRig(t *testing.T, nl4, nl6 *fakeNetlink) (*rig, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	r, m := newNetlinkFakeManager(t, nl4, nl6, Config{Log: slog.New(slog.NewTextHandler(&buf, nil))})
	t.Cleanup(func() { m.Close() })
	<-m.probing
	r.m = m
	return r, &buf
}

func TestOpenUsesNetlinkAfterThePassedCheck(t *testing.T) {
	nl4 := &fakeNetlink{ipt: newFakeIPT(), spec: ruleSpec}
	nl6 := &fakeNetlink{ipt: newFakeIPT(), spec: ruleSpec}
	r, log := netlinkFakeRig(t, nl4, nl6)
	if n := strings.Count(log.String(), "opening rules are written over nf_tables netlink"); n != 2 {
		t.Fatalf("%d families on netlink, want 2:\n%s", n, log)
	}
	if got := r.v4.dump(Chain); len(got) != 1 {
		t.Fatalf("the check left %q", got)
	}
	if _, ok := r.v4.chains[checkChain]; ok {
		t.Fatalf("the check left its chain %s", checkChain)
	}
	o := r.open(t, "192.0.2.7", 22, 5*time.Second)
	if nl4.appends != 2 || nl6.appends != 1 {
		t.Errorf("netlink appends: v4 %d (want the check's and Open's), v6 %d (want the check's)", nl4.appends, nl6.appends)
	}
	if got := r.v4.dump(Chain); !slices.Equal(got, []string{"-N " + Chain, ruleLine(o)}) {
		t.Errorf("chain after Open = %q", got)
	}
}

func TestFailedCheckFallsBackToIPTables(t *testing.T) {
	wrongBurst := func(o Opening) []string {
		s := ruleSpec(o)
		s[slices.Index(s, "--limit-burst")+1] = "2"
		return s
	}
	for _, tc := range []struct {
		name string
		nl   *fakeNetlink
		why  string
	}{
		{"append fails", &fakeNetlink{ipt: newFakeIPT(), spec: ruleSpec, appendErr: errors.New("no such table")}, "appending a test rule over netlink: no such table"},
		{"printed differently", &fakeNetlink{ipt: newFakeIPT(), spec: wrongBurst}, "printed the test rule as"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nl6 := &fakeNetlink{ipt: newFakeIPT(), spec: ruleSpec}
			r, log := netlinkFakeRig(t, tc.nl, nl6)
			want := "opening rules are written by running iptables: the nf_tables netlink rule failed its start-up check"
			if !strings.Contains(log.String(), want) || !strings.Contains(log.String(), tc.why) {
				t.Fatalf("log lacks %q with %q:\n%s", want, tc.why, log)
			}
			if got := r.v4.dump(Chain); len(got) != 1 {
				t.Fatalf("the failed check left %q", got)
			}
			if _, ok := r.v4.chains[checkChain]; ok {
				t.Fatalf("the failed check left its chain %s: %q", checkChain, r.v4.dump(checkChain))
			}
			appends := tc.nl.appends
			o := r.open(t, "192.0.2.7", 22, 5*time.Second)
			if tc.nl.appends != appends {
				t.Error("Open used the netlink writer that failed its check")
			}
			if got := r.v4.dump(Chain); !slices.Equal(got, []string{"-N " + Chain, ruleLine(o)}) {
				t.Errorf("chain after Open = %q", got)
			}
			if !strings.Contains(log.String(), "opening rules are written over nf_tables netlink: ip6tables") {
				t.Errorf("IPv6, whose check passed, is not on netlink:\n%s", log)
			}
		})
	}
}

func TestParseBackend(t *testing.T) {
	for _, s := range []string{"auto", "iptables"} {
		if b, err := ParseBackend(s); err != nil || string(b) != s {
			t.Errorf("ParseBackend(%q) = %q, %v", s, b, err)
		}
	}
	for _, s := range []string{"", "nft", "IPTABLES"} {
		if _, err := ParseBackend(s); err == nil || !strings.Contains(err.Error(), `"auto" or "iptables"`) {
			t.Errorf("ParseBackend(%q) = %v, want an error naming the values", s, err)
		}
	}
}

// TestCheckWaitsForTheFirstCall: a socket-activated helper's first call is
// a knock waiting for its port, so the start-up check runs after it (which
// runs iptables), not beside it, and Close does not wait for the delay.
func TestCheckWaitsForTheFirstCall(t *testing.T) {
	nl4 := &fakeNetlink{ipt: newFakeIPT(), spec: ruleSpec}
	nl6 := &fakeNetlink{ipt: newFakeIPT(), spec: ruleSpec}
	cfg := Config{Log: slog.New(slog.DiscardHandler), probeDelay: time.Hour}
	r, m := newNetlinkFakeManager(t, nl4, nl6, cfg)
	r.m = m
	o := r.open(t, "192.0.2.7", 22, 5*time.Second)
	select {
	case <-m.probing:
	case <-time.After(10 * time.Second):
		t.Fatal("the check did not run after the first call")
	}
	if nl4.appends != 1 || !slices.Contains(r.v4.dump(Chain), ruleLine(o)) {
		t.Fatalf("netlink appends %d (want the check's alone: the first call runs iptables), chain %q", nl4.appends, r.v4.dump(Chain))
	}
	m.Close()

	_, idle := newNetlinkFakeManager(t, &fakeNetlink{ipt: newFakeIPT(), spec: ruleSpec}, &fakeNetlink{ipt: newFakeIPT(), spec: ruleSpec}, cfg)
	closed := make(chan struct{})
	go func() { idle.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close waited for the check's delay")
	}
}

// newNetlinkFakeManager returns a rig on fake iptables and a manager, made
// with cfg, whose netlink writers are nl4 and nl6.
func newNetlinkFakeManager(t *testing.T, nl4, nl6 *fakeNetlink, cfg Config) (*rig, *IPTables) {
	t.Helper()
	r := &rig{v4: nl4.ipt, v6: nl6.ipt, clock: &clock{t: start}}
	cfg.Now = r.clock.Now
	cfg.newNetlink = func(v6 bool) (netlinkWriter, error) {
		if v6 {
			return nl6, nil
		}
		return nl4, nil
	}
	m, err := newIPTables(r.v4, r.v6, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r, m
}
