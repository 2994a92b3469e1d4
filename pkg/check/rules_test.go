package check

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The testdata files are real `iptables -S` output, written by
// testdata/gen.sh in a throwaway network namespace.

func loadRules(t *testing.T, name string) *Ruleset {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "iptables-S-"+name+".txt"))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := ParseRules(string(data))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return rs
}

// summary says in one string where a trace ended: "log CHAIN", the verdict
// rule's line, or "policy P", and how many other LOG rules it passed.
func summary(t Trace) string {
	var s string
	switch {
	case t.Logged != nil:
		s = "log " + t.Logged.Chain
	case t.Verdict != nil:
		s = t.Verdict.Line
	default:
		s = "policy " + t.Policy
	}
	return fmt.Sprintf("%s, others=%d", s, len(t.OtherLogs))
}

func TestTraceSYN(t *testing.T) {
	tests := []struct {
		file   string
		port   uint16
		prefix string
		want   string
	}{
		{"shipped", 6666, "REJECT ", "log KK_KNOCKLOG, others=0"},
		{"shipped", 22, "REJECT ", "-A KK_INPUT -p tcp -m tcp --dport 22 -m conntrack --ctstate NEW -j ACCEPT, others=0"},
		{"shipped", 7777, "REJECT ", "log KK_REJECTLOG, others=0"},
		{"shipped", 6666, "REJECT", "-A KK_KNOCKLOG -p tcp -j REJECT --reject-with tcp-reset, others=1"},
		{"opening", 6666, "REJECT ", "log KK_KNOCKLOG, others=0"},
		{"two-ports", 7777, "REJECT ", "log KK_KNOCKLOG, others=0"},
		{"no-knock-log", 6666, "REJECT ", "-A KK_KNOCKLOG -p tcp -j REJECT --reject-with tcp-reset, others=0"},
		{"no-jump", 6666, "REJECT ", "log KK_REJECTLOG, others=0"},
		{"other-prefix", 6666, "REJECT ", "-A KK_KNOCKLOG -p tcp -j REJECT --reject-with tcp-reset, others=1"},
		{"other-prefix", 6666, "DROP ", "log KK_KNOCKLOG, others=0"},
		{"dropped-first", 6666, "REJECT ", "-A INPUT -p tcp -m multiport --dports 6000:7000 -j DROP, others=0"},
		{"dropped-first", 7001, "REJECT ", "log KK_REJECTLOG, others=0"},
		{"no-sequence", 6666, "REJECT ", "policy DROP, others=1"},
		{"no-input-jump", 6666, "REJECT ", "policy ACCEPT, others=0"},
		{"empty", 6666, "REJECT ", "policy ACCEPT, others=0"},
		{"hand-written", 6666, `kk "x" `, "log logit, others=0"},
		{"hand-written", 6666, "REJECT ", "-A knock -j DROP, others=1"},
		{"hand-written", 22, `kk "x" `, "-A INPUT -j ACCEPT, others=0"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d/%q", tt.file, tt.port, tt.prefix), func(t *testing.T) {
			got := summary(TraceSYN(loadRules(t, tt.file), tt.port, tt.prefix))
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestLogRuleResult(t *testing.T) {
	tests := []struct {
		file   string
		status Status
		want   []string // in the line
	}{
		{"shipped", OK, []string{`a SYN reaches KK_KNOCKLOG's LOG --log-prefix "REJECT ", limited per source`}},
		{"opening", OK, []string{"KK_KNOCKLOG"}},
		{"no-jump", Warn, []string{"one global rate limit", "a flood to any port", "fix: " + firewallFix}},
		{"no-knock-log", Fail, []string{"REJECT by `-A KK_KNOCKLOG -p tcp -j REJECT --reject-with tcp-reset`", "fix: " + firewallFix}},
		{"other-prefix", Fail, []string{`passes a LOG rule with --log-prefix "DROP "`,
			`fix: make the two agree: log_prefix = "DROP " in /etc/kk/config, or knockknock-firewall.sh -l 'REJECT ' start`}},
		{"dropped-first", Fail, []string{"DROP by `-A INPUT -p tcp -m multiport --dports 6000:7000 -j DROP`"}},
		{"no-sequence", Fail, []string{"INPUT's policy DROP takes it", "without --log-tcp-sequence"}},
		{"no-input-jump", Fail, []string{"INPUT's policy ACCEPT takes it", "INPUT does not jump to KK_INPUT"}},
		{"empty", Fail, []string{"meets no LOG rule", "fix: " + firewallFix}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			r := newRun(withDefaults(Options{ConfigPath: "/etc/kk/config"}))
			res := r.logRuleResult(loadRules(t, tt.file), served{"lab", 6666})
			line := res.String()
			if res.Status != tt.status {
				t.Errorf("status %s, want %s: %s", res.Status, tt.status, line)
			}
			for _, w := range tt.want {
				if !strings.Contains(line, w) {
					t.Errorf("line lacks %q:\n%s", w, line)
				}
			}
			if !strings.HasPrefix(line, fmt.Sprintf("%-5s LOG rule for knock port 6666 (profile lab)", tt.status)) {
				t.Errorf("line does not start with the status and what: %s", line)
			}
		})
	}
}

func TestSplitWords(t *testing.T) {
	tests := []struct {
		line string
		want []string
	}{
		{`-A X -j LOG --log-prefix "REJECT "`, []string{"-A", "X", "-j", "LOG", "--log-prefix", "REJECT "}},
		{`-A X --log-prefix "kk \"x\" " --log-tcp-sequence`, []string{"-A", "X", "--log-prefix", `kk "x" `, "--log-tcp-sequence"}},
		{`-A X -m comment --comment "a\\b"`, []string{"-A", "X", "-m", "comment", "--comment", `a\b`}},
		{"-A  X\t-j  DROP ", []string{"-A", "X", "-j", "DROP"}},
		{`-A X --comment ""`, []string{"-A", "X", "--comment", ""}},
	}
	for _, tt := range tests {
		got, err := splitWords(tt.line)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("splitWords(%q) = %q, %v; want %q", tt.line, got, err, tt.want)
		}
	}
	if _, err := splitWords(`-A X --log-prefix "REJECT `); err == nil {
		t.Error("an unterminated quote was accepted")
	}
}

func TestParseRulesSaveFormat(t *testing.T) {
	rs, err := ParseRules(`# Generated by iptables-save
*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:KK_INPUT - [0:0]
-A INPUT -j KK_INPUT
-A KK_INPUT -p tcp -m tcp --dport 6666 -j LOG --log-prefix "REJECT " --log-tcp-sequence
COMMIT
`)
	if err != nil {
		t.Fatal(err)
	}
	if rs.Policy["INPUT"] != "DROP" || len(rs.Chains["KK_INPUT"]) != 1 {
		t.Fatalf("parsed %+v", rs)
	}
	if got := summary(TraceSYN(rs, 6666, "REJECT ")); got != "log KK_INPUT, others=0" {
		t.Errorf("trace: %s", got)
	}
	for _, bad := range []string{"-X INPUT", `-A INPUT --comment "open`, ":INPUT"} {
		if _, err := ParseRules(bad); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("ParseRules(%q) = %v, want an error naming line 1", bad, err)
		}
	}
}

func TestMatchesSYN(t *testing.T) {
	tests := []struct {
		rule string
		want bool
	}{
		{"-j DROP", true},
		{"-p udp -j DROP", false},
		{"! -p udp -j DROP", true},
		{"-p tcp -m tcp --dport 6666 -j X", true},
		{"-p tcp -m tcp ! --dport 6666 -j X", false},
		{"-p tcp -m tcp --dport 6000:7000 -j X", true},
		{"-p tcp -m tcp --dport 6667:7000 -j X", false},
		{"-p tcp -m multiport --dports 22,6666 -j X", true},
		{"-p tcp -m multiport --dports 22,443 -j X", false},
		{"-p tcp -m tcp --sport 1024:65535 -j X", false},
		{"-s 10.0.0.0/8 -j X", false},
		{"-s 0.0.0.0/0 -j X", true},
		{"-d 192.0.2.1/32 -j X", true},
		{"-i lo -j X", false},
		{"! -i lo -j X", true},
		{"-i eth0 -j X", true},
		{"-m conntrack --ctstate NEW -j X", true},
		{"-m conntrack --ctstate RELATED,ESTABLISHED -j X", false},
		{"-m conntrack ! --ctstate NEW -j X", false},
		{"-m state --state NEW,ESTABLISHED -j X", true},
		{"-p tcp -m tcp --syn -j X", true},
		{"-p tcp -m tcp ! --syn -j X", false},
		{"-p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -j X", true},
		{"-p tcp -m tcp --tcp-flags SYN,ACK ACK -j X", false},
		{"-p tcp -m tcp --tcp-flags ALL NONE -j X", false},
		{"-p tcp -m tcp --tcp-flags ALL SYN -j X", true},
		{"-m limit --limit 3/sec --limit-burst 8 -j X", true},
		{"-m hashlimit --hashlimit-upto 10/sec --hashlimit-mode srcip --hashlimit-name k -j X", true},
		{`-m comment --comment "a b" -j X`, true},
		{"-m set --match-set blocked src -j X", false},
		{"-m recent --update --seconds 60 -j X", false},
		{"-f -j X", false},
	}
	for _, tt := range tests {
		words, err := splitWords(tt.rule)
		if err != nil {
			t.Fatal(err)
		}
		if got := matchesSYN(words, 6666); got != tt.want {
			t.Errorf("matchesSYN(%q) = %v, want %v", tt.rule, got, tt.want)
		}
	}
}

// fakeLister serves a parsed `iptables -S` file chain by chain, as
// go-iptables' List and ListChains do, and records what was listed.
type fakeLister struct {
	text   string
	listed []string
}

func (f *fakeLister) ListChains(table string) ([]string, error) {
	rs, err := ParseRules(f.text)
	if err != nil {
		return nil, err
	}
	var out []string
	for c := range rs.Chains {
		out = append(out, c)
	}
	return out, nil
}

func (f *fakeLister) List(table, chain string) ([]string, error) {
	f.listed = append(f.listed, chain)
	var out []string
	for _, l := range strings.Split(f.text, "\n") {
		if strings.HasPrefix(l, "-P "+chain+" ") || l == "-N "+chain || strings.HasPrefix(l, "-A "+chain+" ") {
			out = append(out, l)
		}
	}
	return out, nil
}

func TestReadRuleset(t *testing.T) {
	data, err := os.ReadFile("testdata/iptables-S-opening.txt")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeLister{text: string(data)}
	rs, err := ReadRuleset(f)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"INPUT", "KK_INPUT", "KNOCKKNOCK", "KK_KNOCKLOG", "KK_REJECTLOG"}
	if !slices.Equal(f.listed, want) {
		t.Errorf("listed %q, want the chains INPUT reaches, %q", f.listed, want)
	}
	full := loadRules(t, "opening")
	for _, c := range want {
		if len(rs.Chains[c]) != len(full.Chains[c]) {
			t.Errorf("chain %s: %d rules, want %d", c, len(rs.Chains[c]), len(full.Chains[c]))
		}
	}
	if got := summary(TraceSYN(rs, 6666, "REJECT ")); got != "log KK_KNOCKLOG, others=0" {
		t.Errorf("trace: %s", got)
	}
}

func TestCapEffHas(t *testing.T) {
	status := "Name:\tx\nCapPrm:\t0000000000000000\nCapEff:\t0000000000001000\n"
	if !capEffHas(status, 12) {
		t.Error("bit 12 (CAP_NET_ADMIN) not seen in CapEff 0x1000")
	}
	if capEffHas(status, 21) || capEffHas("CapEff:\t0000000000000000\n", 12) || capEffHas("", 12) {
		t.Error("a capability seen where CapEff lacks it")
	}
}

// deniedLister fails as iptables does without the capability it needs.
type deniedLister struct{}

func (deniedLister) ListChains(string) ([]string, error) {
	return nil, errors.New("exit status 4: iptables v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied (you must be root)")
}

func (deniedLister) List(string, string) ([]string, error) { return nil, nil }

func TestCheckLogRulesDenied(t *testing.T) {
	r := newRun(withDefaults(Options{IPTables: deniedLister{}, NetAdmin: func() bool { return true }}))
	r.ports = []served{{"lab", 6666}}
	res := r.checkLogRules()
	if len(res) != 1 || res[0].Status != Warn || !strings.Contains(res[0].String(), "not checked: reading iptables needs root") {
		t.Errorf("got %v, want one WARN saying the rules need root", res)
	}
}
