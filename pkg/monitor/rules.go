package monitor

import (
	"fmt"
	"io"
	"strings"

	"github.com/kk-project/kk/pkg/profile"
)

// KnockPorts returns the sorted knock ports of the profiles in profilesDir,
// with an error for each profile left out. It reads only the profiles'
// config files, never a key or a counter (see profile.KnockPorts).
func KnockPorts(profilesDir string) ([]uint16, []error) {
	return profile.KnockPorts(profilesDir)
}

// JoinPorts formats ports as the comma-separated list that
// knockknock-firewall.sh takes with -k.
func JoinPorts(ports []uint16) string {
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = fmt.Sprint(p)
	}
	return strings.Join(s, ",")
}

// WriteFirewallRules writes the iptables commands for the knock ports, the
// same rules knockknock-firewall.sh puts in KK_KNOCKLOG and KK_INPUT: one LOG
// line per knock SYN with the sequence numbers kk-monitor needs, limited per
// source address (rate per second, burst), then a REJECT. prefix must equal
// the monitor's log_prefix.
func WriteFirewallRules(w io.Writer, ports []uint16, prefix string, rate, burst int) error {
	lines := []string{
		"iptables -N KK_KNOCKLOG",
		fmt.Sprintf("iptables -A KK_KNOCKLOG -p tcp --syn -m hashlimit --hashlimit-mode srcip "+
			"--hashlimit-upto %d/sec --hashlimit-burst %d --hashlimit-name kk_knock4 --hashlimit-htable-expire 10000 "+
			"-j LOG --log-level debug --log-tcp-sequence --log-tcp-options --log-ip-options --log-prefix %s",
			rate, burst, shellQuote(prefix)),
		"iptables -A KK_KNOCKLOG -p tcp -j REJECT --reject-with tcp-reset",
		"iptables -A KK_KNOCKLOG -j REJECT",
	}
	for _, p := range ports {
		lines = append(lines, fmt.Sprintf("iptables -A KK_INPUT -p tcp --dport %d -j KK_KNOCKLOG", p))
	}
	_, err := io.WriteString(w, strings.Join(lines, "\n")+"\n")
	return err
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
