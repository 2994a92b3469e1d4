package check

import (
	"strings"
	"testing"

	"github.com/kk-project/kk/internal/nstest"
)

// TestLogRulesInNetns loads the shipped firewall script in a fresh network
// namespace, breaks it the ways an admin might, and checks the LOG rules
// there with the real iptables, through go-iptables, as kk-monitor check
// does.
func TestLogRulesInNetns(t *testing.T) {
	ns := nstest.New(t, "chk")
	const script = "../../firewall/knockknock-firewall.sh"
	start := func(args ...string) func() {
		return func() { ns.Run(t, append([]string{"sh", script, "-4", "-k", "6666"}, append(args, "start")...)...) }
	}
	tests := []struct {
		name   string
		setup  []func()
		status Status
		want   []string
	}{
		{"working", []func(){start()}, OK,
			[]string{`OK    LOG rule for knock port 6666 (profile lab): a SYN reaches KK_KNOCKLOG's LOG --log-prefix "REJECT ", limited per source`}},
		{"LOG rule removed", []func(){start(), func() { ns.Run(t, "iptables", "-D", "KK_KNOCKLOG", "1") }}, Fail,
			[]string{"meets no LOG rule", "REJECT by `-A KK_KNOCKLOG -p tcp -j REJECT --reject-with tcp-reset`", "fix: knockknock-firewall.sh start"}},
		{"wrong prefix", []func(){start("-l", "DROP ")}, Fail,
			[]string{`passes a LOG rule with --log-prefix "DROP "`, `fix: make the two agree: log_prefix = "DROP "`}},
		{"knock port's jump removed", []func(){start(), func() {
			ns.Run(t, "iptables", "-D", "KK_INPUT", "-p", "tcp", "--dport", "6666", "-j", "KK_KNOCKLOG")
		}}, Warn, []string{"logged only by KK_REJECTLOG's rule with one global rate limit"}},
		{"INPUT's jump removed", []func(){start(), func() { ns.Run(t, "iptables", "-D", "INPUT", "-j", "KK_INPUT") }}, Fail,
			[]string{"INPUT's policy ACCEPT takes it", "INPUT does not jump to KK_INPUT"}},
		{"rules stopped", []func(){func() { ns.Run(t, "sh", script, "-4", "stop") }}, Fail,
			[]string{"meets no LOG rule", "INPUT's policy ACCEPT takes it"}},
		{"working again", []func(){start()}, OK, []string{"a SYN reaches KK_KNOCKLOG's LOG"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, f := range tt.setup {
				f()
			}
			r := newRun(withDefaults(Options{ConfigPath: "/etc/kk/config"}))
			r.ports = []served{{"lab", 6666}}
			var res []Result
			if err := ns.Do(func() error { res = r.checkLogRules(); return nil }); err != nil {
				t.Fatal(err)
			}
			text, worst := lines(res)
			if worst != tt.status || len(res) != 1 {
				t.Errorf("got %d results, worst %s, want one %s:\n%s", len(res), worst, tt.status, text)
			}
			for _, w := range tt.want {
				if !strings.Contains(text, w) {
					t.Errorf("output lacks %q:\n%s", w, text)
				}
			}
		})
	}
}
