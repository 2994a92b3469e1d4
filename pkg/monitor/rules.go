package monitor

import (
	"fmt"
	"io"
	"strings"
	"time"

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

// The per-source limit's hash table, as knockknock-firewall.sh sets it:
// buckets, and the most sources tracked. A full table drops a new
// source's SYN unlogged, so a flood of spoofed sources would crowd out a
// client's first knock; 262144 entries hold 130,000 new sources a second
// for the default 2 s expiry, at about 32 MB of kernel memory.
const (
	hashlimitSize = 32768
	hashlimitMax  = 262144
)

// HashlimitExpire is how long the per-source limit keeps an idle source:
// the time its bucket takes to refill (burst/rate, rounded up to whole
// seconds, at least one). A source idle that long has a full bucket again
// anyway, so forgetting it then changes nothing but the table's size.
func HashlimitExpire(rate, burst int) time.Duration {
	if rate < 1 {
		rate = 1
	}
	return time.Duration(max((burst+rate-1)/rate, 1)) * time.Second
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
			"--hashlimit-upto %d/sec --hashlimit-burst %d --hashlimit-name kk_knock4 --hashlimit-htable-expire %d "+
			"--hashlimit-htable-size %d --hashlimit-htable-max %d "+
			"-j LOG --log-level debug --log-tcp-sequence --log-tcp-options --log-ip-options --log-prefix %s",
			rate, burst, HashlimitExpire(rate, burst).Milliseconds(), hashlimitSize, hashlimitMax, shellQuote(prefix)),
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
