package firewall

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Chain is the filter-table chain that holds all of kk's rules. INPUT jumps
// to it at position 1.
const Chain = "KNOCKKNOCK"

const (
	table       = "filter"
	commentTag  = "knockknock"
	datestopFmt = "2006-01-02T15:04:05"
)

// jumpSpec is the INPUT rule that sends packets to Chain.
var jumpSpec = []string{"-j", Chain}

// limitRate is the rule's -m limit rate. With --limit-burst 1 the bucket
// holds one connection and refills one period (a day) after it is used, and
// no opening lasts that long (MaxOpeningDuration), so an opening admits one
// new connection however long it is. A 1/min rate, as before, let a
// 150-second opening admit a second connection after 60 s.
const (
	limitRate   = "1/day"
	limitPeriod = 24 * time.Hour
)

// ruleSpec returns the rule for o: it admits one NEW TCP connection from
// o.IP to o.Port, and the kernel stops matching it at o.Deadline even if
// kk-firewall is dead. The comment lets a restarted helper find it again.
//
// xt_time compares whole UTC seconds and matches while now <= datestop, so
// datestop is the second before the deadline.
func ruleSpec(o Opening) []string {
	return []string{
		"-s", o.IP.String(),
		"-p", "tcp", "--dport", strconv.Itoa(int(o.Port)),
		"-m", "conntrack", "--ctstate", "NEW",
		"-m", "limit", "--limit", limitRate, "--limit-burst", "1",
		"-m", "time", "--datestop", o.Deadline.Add(-time.Second).UTC().Format(datestopFmt),
		"-m", "comment", "--comment", ruleComment(o),
		"-j", "ACCEPT",
	}
}

func ruleComment(o Opening) string {
	return fmt.Sprintf("%s deadline=%s profile=%s", commentTag, o.Deadline.UTC().Format(time.RFC3339), o.Profile)
}

// ruleLine returns o's rule as `iptables -S` prints it.
func ruleLine(o Opening) string { return ruleLineIn(Chain, o) }

// ruleLineIn returns o's rule in chain as `iptables -S` prints it.
func ruleLineIn(chain string, o Opening) string {
	spec := ruleSpec(o)
	spec[1] = netip.PrefixFrom(o.IP, o.IP.BitLen()).String()
	spec[3] = "tcp -m tcp"
	spec[len(spec)-3] = `"` + spec[len(spec)-3] + `"`
	return "-A " + chain + " " + strings.Join(spec, " ")
}

var ruleRE = regexp.MustCompile(`^-A ` + Chain + ` -s (\S+?)/\d+ .*--dport (\d+) .*--comment "` + commentTag +
	` deadline=(\S+) profile=([A-Za-z0-9._-]*)"`)

// parseRule recognises a line of `iptables -S` output as one of kk's rules.
// ok is false for any line that is not exactly a rule kk would write.
func parseRule(line string) (o Opening, ok bool) {
	m := ruleRE.FindStringSubmatch(line)
	if m == nil {
		return Opening{}, false
	}
	ip, err := netip.ParseAddr(m[1])
	if err != nil {
		return Opening{}, false
	}
	port, err := strconv.ParseUint(m[2], 10, 16)
	if err != nil || port == 0 {
		return Opening{}, false
	}
	deadline, err := time.Parse(time.RFC3339, m[3])
	if err != nil {
		return Opening{}, false
	}
	o = Opening{IP: ip, Port: uint16(port), Deadline: deadline.UTC(), Profile: m[4]}
	return o, ruleLine(o) == line
}
