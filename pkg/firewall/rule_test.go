package firewall

import (
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

// testdata/iptables-S.txt was printed by iptables-nft 1.8.9 for rules added
// with ruleSpec's arguments.
func TestParseRealIPTablesOutput(t *testing.T) {
	b, err := os.ReadFile("testdata/iptables-S.txt")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Date(2026, 11, 26, 12, 0, 5, 0, time.UTC)
	want := []Opening{
		{IP: netip.MustParseAddr("192.0.2.7"), Port: 22, Deadline: deadline, Profile: "ssh-home"},
		{IP: netip.MustParseAddr("2001:db8::7"), Port: 443, Deadline: deadline},
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d lines in testdata, want %d", len(lines), len(want))
	}
	for i, line := range lines {
		o, ok := parseRule(line)
		if !ok || o != want[i] {
			t.Errorf("parseRule(%q) = %+v, %v; want %+v", line, o, ok, want[i])
		}
		if got := ruleLine(want[i]); got != line {
			t.Errorf("ruleLine = %q\nwant      %q", got, line)
		}
		if got := "-A " + Chain + " " + printRule(ruleSpec(want[i])); got != line {
			t.Errorf("fake prints %q\nwant        %q", got, line)
		}
	}
}

func TestRuleSpecIsTheDocumentedRule(t *testing.T) {
	o := Opening{IP: netip.MustParseAddr("192.0.2.7"), Port: 22, Deadline: time.Date(2026, 11, 26, 12, 0, 5, 0, time.UTC), Profile: "p"}
	got := strings.Join(ruleSpec(o), " ")
	want := "-s 192.0.2.7 -p tcp --dport 22 -m conntrack --ctstate NEW -m limit --limit 1/day --limit-burst 1 " +
		"-m time --datestop 2026-11-26T12:00:04 -m comment --comment knockknock deadline=2026-11-26T12:00:05Z profile=p -j ACCEPT"
	if got != want {
		t.Errorf("ruleSpec =\n%s\nwant\n%s", got, want)
	}
}

func TestParseRuleRejectsForeignRules(t *testing.T) {
	good := ruleLine(Opening{IP: netip.MustParseAddr("192.0.2.7"), Port: 22, Deadline: time.Unix(1800000000, 0).UTC()})
	for name, line := range map[string]string{
		"empty":           "",
		"chain header":    "-N KNOCKKNOCK",
		"other chain":     strings.Replace(good, "-A KNOCKKNOCK", "-A INPUT", 1),
		"extra match":     strings.Replace(good, "-p tcp", "-i eth0 -p tcp", 1),
		"no comment":      "-A KNOCKKNOCK -s 192.0.2.7/32 -p tcp -m tcp --dport 22 -j ACCEPT",
		"foreign comment": strings.Replace(good, "knockknock deadline", "mine deadline", 1),
		"bad deadline":    strings.Replace(good, "deadline=2027", "deadline=x027", 1),
		"subnet source":   strings.Replace(good, "/32", "/24", 1),
		"datestop moved":  strings.Replace(good, "--datestop 2027", "--datestop 2028", 1),
		"port zero":       strings.Replace(good, "--dport 22", "--dport 0", 1),
		"drop target":     strings.Replace(good, "-j ACCEPT", "-j DROP", 1),
	} {
		if o, ok := parseRule(line); ok {
			t.Errorf("%s: parseRule(%q) = %+v, true; want false", name, line, o)
		}
	}
	if _, ok := parseRule(good); !ok {
		t.Fatalf("parseRule(%q) failed; the cases above prove nothing", good)
	}
}
