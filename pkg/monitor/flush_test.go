package monitor

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var suppressedRE = regexp.MustCompile(`suppressed=(\d+)`)

// reportedRefusals counts the refusals the log accounts for: each refusal
// line, plus every suppressed count reported.
func reportedRefusals(logs string) int {
	n := strings.Count(logs, `msg="knock refused"`)
	for _, m := range suppressedRE.FindAllStringSubmatch(logs, -1) {
		k, _ := strconv.Atoi(m[1])
		n += k
	}
	return n
}

// TestLoneBurstSuppressedCountLogged sends one burst of forged knocks and
// nothing after it: the refusals suppressed in the burst must still be
// reported (about a second later), so the log accounts for all of them.
func TestLoneBurstSuppressedCountLogged(t *testing.T) {
	h := newHarness(t)
	p := h.addProfile("web", 4444)
	h.startHelper()
	h.start(h.options())
	forged := forgedLine(p, "192.0.2.10")
	h.appendLines(forged, forged, forged, forged, forged)
	h.waitFor("5 refusals", func() bool { return h.m.Stats().Refused == 5 })
	h.waitFor("every refusal reported", func() bool { return reportedRefusals(h.logs.String()) == 5 })
}
