package check

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/coreos/go-iptables/iptables"
)

// lister is the part of *iptables.IPTables the rule check uses.
type lister interface {
	ListChains(table string) ([]string, error)
	List(table, chain string) ([]string, error)
}

var _ lister = (*iptables.IPTables)(nil)

// firewallFix is what loads kk's rules again.
const firewallFix = "knockknock-firewall.sh start (or systemctl reload knockknock-firewall.service)"

// checkLogRules checks, for each served knock port, that a knock SYN
// reaches a LOG rule with the configured prefix.
func (r *run) checkLogRules() []Result {
	if len(r.ports) == 0 {
		return nil
	}
	what := "LOG rules for the knock ports"
	needRoot := Result{Status: Warn, What: what, Why: "not checked: reading iptables needs root (CAP_NET_ADMIN)",
		Fix: "run sudo " + r.opts.Command}
	if !r.opts.NetAdmin() {
		return []Result{needRoot}
	}
	rs, err := r.readRules()
	if err != nil && strings.Contains(err.Error(), "Permission denied") {
		// A sandbox may take the capability's use away, or a seccomp filter.
		needRoot.Why += ": " + err.Error()
		return []Result{needRoot}
	}
	if err != nil {
		return []Result{{Status: Fail, What: what, Why: err.Error(), Fix: "install the iptables package, then " + firewallFix}}
	}
	var out []Result
	for _, s := range r.ports {
		out = append(out, r.logRuleResult(rs, s))
	}
	return out
}

func (r *run) readRules() (*Ruleset, error) {
	ipt := r.opts.IPTables
	if ipt == nil {
		real, err := iptables.New()
		if err != nil {
			return nil, fmt.Errorf("finding iptables: %w", err)
		}
		ipt = real
	}
	return ReadRuleset(ipt)
}

// ReadRuleset reads the filter table's INPUT chain and every chain it
// reaches through jumps, and KK_INPUT, so a missing jump to it can be told.
func ReadRuleset(ipt lister) (*Ruleset, error) {
	chains, err := ipt.ListChains("filter")
	if err != nil {
		return nil, fmt.Errorf("listing the filter table's chains: %w", err)
	}
	exists := map[string]bool{}
	for _, c := range chains {
		exists[c] = true
	}
	rs := &Ruleset{Policy: map[string]string{}, Chains: map[string][]Rule{}}
	todo := []string{"INPUT", "KK_INPUT"}
	for len(todo) > 0 {
		chain := todo[0]
		todo = todo[1:]
		if _, done := rs.Chains[chain]; done || !exists[chain] {
			continue
		}
		lines, err := ipt.List("filter", chain)
		if err != nil {
			return nil, fmt.Errorf("listing chain %s: %w", chain, err)
		}
		for _, l := range lines {
			if err := rs.addLine(strings.TrimSpace(l)); err != nil {
				return nil, fmt.Errorf("chain %s: %w", chain, err)
			}
		}
		rs.declare(chain, "-")
		for _, rule := range rs.Chains[chain] {
			if t, _ := rule.target(); exists[t] {
				todo = append(todo, t)
			}
		}
	}
	return rs, nil
}

// logRuleResult judges the way of a knock SYN to s.port.
func (r *run) logRuleResult(rs *Ruleset, s served) Result {
	what := fmt.Sprintf("LOG rule for knock port %d (profile %s)", s.port, s.name)
	t := TraceSYN(rs, s.port, r.cfg.LogPrefix)
	if t.Logged != nil {
		if t.Logged.hasMatch("limit") {
			return Result{Status: Warn, What: what,
				Why: fmt.Sprintf("a knock SYN is logged only by %s's rule with one global rate limit (%s): a flood to any port can crowd knocks out",
					t.Logged.Chain, t.Logged.Line),
				Fix: firewallFix}
		}
		limit := ""
		if t.Logged.hasMatch("hashlimit") {
			limit = ", limited per source"
		}
		return ok("%s: a SYN reaches %s's LOG --log-prefix %q%s", what, t.Logged.Chain, r.cfg.LogPrefix, limit)
	}
	end := fmt.Sprintf("INPUT's policy %s takes it", t.Policy)
	if t.Verdict != nil {
		target, _ := t.Verdict.target()
		end = fmt.Sprintf("%s by `%s`", target, t.Verdict.Line)
	}
	why := fmt.Sprintf("a SYN to port %d meets no LOG rule with --log-prefix %q and --log-tcp-sequence: %s", s.port, r.cfg.LogPrefix, end)
	fix := firewallFix
	for _, l := range t.OtherLogs {
		p, _ := l.option("--log-prefix")
		if p != r.cfg.LogPrefix {
			why += fmt.Sprintf("; it passes a LOG rule with --log-prefix %q", p)
			fix = fmt.Sprintf("make the two agree: log_prefix = %s in %s, or knockknock-firewall.sh -l %s start",
				strconv.Quote(p), r.opts.ConfigPath, shellQuote(r.cfg.LogPrefix))
		} else {
			why += "; it passes a LOG rule without --log-tcp-sequence, whose lines kk-monitor cannot verify"
		}
	}
	if _, ok := rs.Chains["KK_INPUT"]; ok && !jumpsTo(rs, "INPUT", "KK_INPUT") {
		why += "; INPUT does not jump to KK_INPUT"
	}
	return Result{Status: Fail, What: what, Why: why, Fix: fix}
}

// hasMatch reports whether r uses match module m (-m m).
func (r Rule) hasMatch(m string) bool {
	for i := 0; i+1 < len(r.Args); i++ {
		if (r.Args[i] == "-m" || r.Args[i] == "--match") && r.Args[i+1] == m {
			return true
		}
	}
	return false
}

func jumpsTo(rs *Ruleset, from, to string) bool {
	for _, rule := range rs.Chains[from] {
		if t, _ := rule.target(); t == to {
			return true
		}
	}
	return false
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// hasNetAdmin reports whether this process has CAP_NET_ADMIN, which
// iptables needs even to read the rules.
func hasNetAdmin() bool {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return os.Geteuid() == 0
	}
	return capEffHas(string(status), 12) // CAP_NET_ADMIN
}

// capEffHas reports whether the CapEff line of a /proc/PID/status text has
// capability bit.
func capEffHas(status string, bit uint) bool {
	for _, l := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(l, "CapEff:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && n&(1<<bit) != 0
		}
	}
	return false
}
