package firewall

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-iptables/iptables"
	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"github.com/kk-project/kk/internal/nstest"
	"github.com/kk-project/kk/internal/syncbuf"
)

// These tests run real iptables and real nf_tables netlink in a fresh
// network namespace. Every iptables call goes through a wrapper that
// enters the namespace and every netlink socket is opened in it, so the
// manager's own goroutines (the expiry timer) cannot touch the host.

// nsTables returns go-iptables handles for iptables and ip6tables that run
// inside ns, and an open fd of ns for netlink.
func nsTables(t *testing.T, ns *nstest.NS) (v4, v6 *iptables.IPTables, fd int) {
	t.Helper()
	dir := t.TempDir()
	mk := func(cmd string, proto iptables.Protocol) *iptables.IPTables {
		path := filepath.Join(dir, cmd)
		script := "#!/bin/sh\nexec ip netns exec " + ns.Name + " " + cmd + " \"$@\"\n"
		if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		ipt, err := iptables.New(iptables.IPFamily(proto), iptables.Path(path))
		if err != nil {
			t.Fatalf("%s in %s: %v", cmd, ns.Name, err)
		}
		return ipt
	}
	v4, v6 = mk("iptables", iptables.ProtocolIPv4), mk("ip6tables", iptables.ProtocolIPv6)
	f, err := os.Open("/run/netns/" + ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if strings.Contains(ns.Run(t, "iptables", "-V"), "legacy") {
		nstest.Unavailable(t, "iptables is iptables-legacy; these tests need iptables-nft")
	}
	return v4, v6, int(f.Fd())
}

// chainRules returns the rules of cmd's Chain in ns as `-S` prints them.
func chainRules(t *testing.T, ns *nstest.NS, cmd string) []string {
	t.Helper()
	return rules(strings.Split(strings.TrimSpace(ns.Run(t, cmd, "-S", Chain)), "\n"))
}

// chainExists reports whether cmd's filter table in ns has chain.
func chainExists(ns *nstest.NS, cmd, chain string) bool {
	return ns.Command(context.Background(), cmd, "-S", chain).Run() == nil
}

// TestNetlinkRuleIsIPTablesOwn writes each opening once with iptables and
// once over netlink and checks that the two are the same rule: the same
// expressions read back from the kernel, the same `iptables -S` line, and
// `iptables -C` and `-D` with ruleSpec find the netlink one.
func TestNetlinkRuleIsIPTablesOwn(t *testing.T) {
	ns := nstest.New(t, "nr")
	_, _, fd := nsTables(t, ns)
	openings := []Opening{
		{IP: netip.MustParseAddr("10.77.0.2"), Port: 22, Deadline: time.Now().Add(30 * time.Second).Truncate(time.Second).UTC(), Profile: "lab"},
		{IP: netip.MustParseAddr("203.0.113.250"), Port: 65535, Deadline: time.Date(2037, 12, 31, 23, 59, 59, 0, time.UTC), Profile: "A.b_c-9"},
		{IP: netip.MustParseAddr("fd77::2"), Port: 1, Deadline: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Profile: strings.Repeat("p", MaxProfileLen)},
		{IP: netip.MustParseAddr("2001:db8:ffff::abcd"), Port: 8443, Deadline: time.Date(2030, 6, 30, 12, 0, 0, 0, time.UTC), Profile: ""},
	}
	for _, v6 := range []bool{false, true} {
		cmd := familyName(v6)
		ns.Run(t, cmd, "-N", Chain)
		w, err := newNFTWriter(v6, fd)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range openings {
			if o.IP.Is6() != v6 {
				continue
			}
			ns.Run(t, append([]string{cmd, "-A", Chain}, ruleSpec(o)...)...)
			if err := w.Append(Chain, o); err != nil {
				t.Fatalf("%s: Append(%v): %v", cmd, o, err)
			}
			rs, err := w.conn.GetRules(w.table, w.chainNamed(Chain))
			if err != nil || len(rs) != 2 {
				t.Fatalf("%s: reading back the two rules: %d rules, %v", cmd, len(rs), err)
			}
			byIPT, byUs := describe(t, w.table.Family, rs[0]), describe(t, w.table.Family, rs[1])
			if byIPT != byUs {
				t.Errorf("%s %v: iptables wrote\n%s\nkk wrote\n%s", cmd, o, byIPT, byUs)
			}
			if got := chainRules(t, ns, cmd); !slices.Equal(got, []string{ruleLine(o), ruleLine(o)}) {
				t.Errorf("%s -S = %q, want ruleLine twice:\n%q", cmd, got, ruleLine(o))
			}
			ns.Run(t, append([]string{cmd, "-D", Chain}, ruleSpec(o)...)...) // the first, iptables' own
			if rs, _ := w.conn.GetRules(w.table, w.chainNamed(Chain)); len(rs) != 1 || rs[0].Handle == 0 {
				t.Fatalf("%s: after deleting iptables' rule, %d rules left", cmd, len(rs))
			}
			ns.Run(t, append([]string{cmd, "-C", Chain}, ruleSpec(o)...)...)
			ns.Run(t, append([]string{cmd, "-D", Chain}, ruleSpec(o)...)...)
			if got := chainRules(t, ns, cmd); len(got) != 0 {
				t.Fatalf("%s -D with ruleSpec left %q", cmd, got)
			}
		}
	}
}

// describe prints r's expressions, each with its netlink encoding, and
// its user data, for comparing two rules and showing where they differ.
func describe(t *testing.T, fam nftables.TableFamily, r *nftables.Rule) string {
	t.Helper()
	var b strings.Builder
	for _, e := range r.Exprs {
		enc, err := marshalExprs(fam, []expr.Any{e})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%T %x\n", e, enc)
	}
	fmt.Fprintf(&b, "userdata %x\n", r.UserData)
	return b.String()
}

// netlinkRig is a manager serving a real namespace, with the netlink
// writers newWriter returns.
func netlinkRig(t *testing.T, ns *nstest.NS, newWriter func(v6 bool, fd int) (netlinkWriter, error)) (*IPTables, *syncbuf.Buffer) {
	t.Helper()
	v4, v6, fd := nsTables(t, ns)
	var log syncbuf.Buffer
	cfg := Config{Log: slog.New(slog.NewTextHandler(&log, nil))}
	cfg.newNetlink = func(v6 bool) (netlinkWriter, error) { return newWriter(v6, fd) }
	m, err := newIPTables(v4, v6, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	<-m.probing
	return m, &log
}

func realWriter(v6 bool, fd int) (netlinkWriter, error) { return newNFTWriter(v6, fd) }

// TestOpenOverNetlink: with the start-up check passed, Open's rule is in
// the chain as iptables prints it, and expiry and Revoke (which run
// iptables) delete it.
func TestOpenOverNetlink(t *testing.T) {
	ns := nstest.New(t, "no")
	m, log := netlinkRig(t, ns, realWriter)
	if n := strings.Count(log.String(), "opening rules are written over nf_tables netlink"); n != 2 {
		t.Fatalf("%d families use netlink, want 2:\n%s", n, log)
	}
	for _, v6 := range []bool{false, true} {
		if m.nl[v6] == nil {
			t.Fatalf("%s: no netlink writer after a passed check", familyName(v6))
		}
		if got := chainRules(t, ns, familyName(v6)); len(got) != 0 {
			t.Fatalf("%s: the start-up check left %q", familyName(v6), got)
		}
		if chainExists(ns, familyName(v6), checkChain) {
			t.Fatalf("%s: the start-up check left its chain %s", familyName(v6), checkChain)
		}
	}
	a, err := m.Open(t.Context(), OpenRequest{IP: netip.MustParseAddr("10.77.0.2"), Port: 22, Duration: 2 * time.Second, Profile: "lab"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.Open(t.Context(), OpenRequest{IP: netip.MustParseAddr("fd77::2"), Port: 22, Duration: 60 * time.Second, Profile: "lab"})
	if err != nil {
		t.Fatal(err)
	}
	if got := chainRules(t, ns, "iptables"); !slices.Equal(got, []string{ruleLine(a)}) {
		t.Fatalf("iptables -S = %q, want %q", got, ruleLine(a))
	}
	if got := chainRules(t, ns, "ip6tables"); !slices.Equal(got, []string{ruleLine(b)}) {
		t.Fatalf("ip6tables -S = %q, want %q", got, ruleLine(b))
	}
	if err := m.Revoke(t.Context(), b.IP, b.Port); err != nil {
		t.Fatalf("Revoke of a netlink-written rule: %v", err)
	}
	deadline := time.Now().Add(time.Until(a.Deadline) + 3*time.Second)
	for len(chainRules(t, ns, "iptables")) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("netlink-written rule not deleted at its deadline %v", a.Deadline)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := chainRules(t, ns, "ip6tables"); len(got) != 0 {
		t.Fatalf("ip6tables after Revoke: %q", got)
	}
	if strings.Contains(log.String(), "level=ERROR") || strings.Contains(log.String(), "already gone") {
		t.Errorf("errors deleting netlink-written rules:\n%s", log)
	}
}

// TestStartupCheckFallsBack gives the manager a netlink writer whose rule
// is not the one iptables writes (a burst of 2): the start-up check must
// catch it, log which check failed, leave no test rule behind, and Open
// must then write its rules with iptables.
func TestStartupCheckFallsBack(t *testing.T) {
	ns := nstest.New(t, "nf")
	m, log := netlinkRig(t, ns, func(v6 bool, fd int) (netlinkWriter, error) {
		w, err := newNFTWriter(v6, fd)
		if err != nil {
			return nil, err
		}
		w.exprs = func(o Opening) []expr.Any {
			es := ruleExprs(o)
			for _, e := range es {
				if l, ok := e.(*expr.Limit); ok {
					l.Burst = 2
				}
			}
			return es
		}
		return w, nil
	})
	for _, fam := range []string{"iptables", "ip6tables"} {
		line := ""
		for _, l := range strings.Split(log.String(), "\n") {
			if strings.Contains(l, "family="+fam+" ") || strings.HasSuffix(l, "family="+fam) {
				line += l + "\n"
			}
		}
		if !strings.Contains(line, "opening rules are written by running "+fam+": the nf_tables netlink rule failed its start-up check") ||
			!strings.Contains(line, "--limit-burst 2") || !strings.Contains(line, "printed the test rule as") {
			t.Errorf("%s: no fallback line naming the failed check:\n%s", fam, log)
		}
		if got := chainRules(t, ns, fam); len(got) != 0 {
			t.Errorf("%s: the failed check left %q", fam, got)
		}
		if chainExists(ns, fam, checkChain) {
			t.Errorf("%s: the failed check left its chain %s", fam, checkChain)
		}
	}
	if m.nl[false] != nil || m.nl[true] != nil {
		t.Fatal("netlink writer kept after a failed check")
	}
	o, err := m.Open(t.Context(), OpenRequest{IP: netip.MustParseAddr("10.77.0.2"), Port: 22, Duration: 30 * time.Second, Profile: "lab"})
	if err != nil {
		t.Fatalf("Open after the fallback: %v", err)
	}
	if got := chainRules(t, ns, "iptables"); !slices.Equal(got, []string{ruleLine(o)}) {
		t.Fatalf("iptables -S after Open = %q, want %q", got, ruleLine(o))
	}
}

// BenchmarkNetlinkWriter measures the netlink writer's two steps on Open's
// path, appending the rule and reading INPUT for the jump, in a namespace
// whose INPUT holds only the jump.
func BenchmarkNetlinkWriter(b *testing.B) {
	ns := nstest.New(b, "nb")
	f, err := os.Open("/run/netns/" + ns.Name)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	ns.Run(b, "iptables", "-N", Chain)
	ns.Run(b, "iptables", "-I", "INPUT", "1", "-j", Chain)
	w, err := newNFTWriter(false, int(f.Fd()))
	if err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(time.Hour).Truncate(time.Second)
	b.Run("Append", func(b *testing.B) {
		for i := range b.N {
			o := Opening{IP: netip.AddrFrom4([4]byte{10, 99, byte(i >> 8), byte(i)}), Port: 22, Deadline: deadline, Profile: "bench"}
			if err := w.Append(Chain, o); err != nil {
				b.Fatal(err)
			}
			if i%100 == 99 {
				b.StopTimer()
				ns.Run(b, "iptables", "-F", Chain)
				b.StartTimer()
			}
		}
	})
	ns.Run(b, "iptables", "-F", Chain)
	b.Run("JumpFirst", func(b *testing.B) {
		for range b.N {
			if ok, err := w.JumpFirst(); !ok || err != nil {
				b.Fatalf("JumpFirst = %v, %v", ok, err)
			}
		}
	})
}
