package kernlog

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testPorts are the knock ports used by testdata/syslog.txt.
var testPorts = []uint16{4444, 4445, 4446, 4447, 5000, 7000}

// A testCase is one line of testdata/syslog.txt.
type testCase struct {
	note, want, line string
	lineNo           int
}

// readCases reads testdata/syslog.txt.
func readCases(t testing.TB) []testCase {
	t.Helper()
	f, err := os.Open("testdata/syslog.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []testCase
	note := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		if strings.HasPrefix(l, "# ") {
			note = l[2:]
			continue
		}
		want, line, ok := strings.Cut(l, "\t")
		if !ok {
			continue
		}
		cases = append(cases, testCase{note, want, line, n})
	}
	if len(cases) < 50 {
		t.Fatalf("only %d cases in testdata/syslog.txt", len(cases))
	}
	return cases
}

// describe renders a parse result in the notation of testdata/syslog.txt.
func describe(pkt Packet, v Verdict) string {
	if v != Knock {
		return v.String()
	}
	return fmt.Sprintf("knock src=%s dpt=%d id=%d seq=%d ack=%d win=%d",
		pkt.Src, pkt.DstPort, pkt.ID, pkt.Seq, pkt.Ack, pkt.Window)
}

func TestParseSyslogTestdata(t *testing.T) {
	p := NewParser("REJECT ", testPorts)
	seen := map[string]int{}
	for _, c := range readCases(t) {
		got := describe(p.ParseSyslog([]byte(c.line)))
		if got != c.want {
			t.Errorf("line %d (%s):\n got  %s\n want %s\n %s", c.lineNo, c.note, got, c.want, c.line)
		}
		seen[strings.Fields(c.want)[0]]++
	}
	// The testdata must exercise every refusal the issue lists.
	for _, v := range []string{"knock", "not", "no", "ACK", "missing", "malformed", "arrived"} {
		if seen[v] == 0 {
			t.Errorf("testdata has no case starting with %q", v)
		}
	}
}

// TestParseMessageMatchesSyslog checks that a kernel message alone parses the
// same as the syslog line that carries it.
func TestParseMessageMatchesSyslog(t *testing.T) {
	p := NewParser("REJECT ", testPorts)
	for _, c := range readCases(t) {
		msg, ok := kernelMessage([]byte(c.line))
		if !ok {
			continue
		}
		a, va := p.ParseSyslog([]byte(c.line))
		b, vb := p.ParseMessage(msg)
		if a != b || va != vb {
			t.Errorf("line %d: syslog %s, message %s", c.lineNo, describe(a, va), describe(b, vb))
		}
	}
}

func TestParseJournalJSON(t *testing.T) {
	p := NewParser("REJECT ", testPorts)
	data, err := os.ReadFile("testdata/journald.json")
	if err != nil {
		t.Fatal(err)
	}
	// The journal holds the same kernel messages, in order, as the first
	// three-line groups of syslog.txt, then three user-space forgeries.
	var want []string
	for i, c := range readCases(t) {
		if i%3 == 0 && strings.HasPrefix(c.note, "") && len(want) < 23 {
			want = append(want, c.want)
		}
	}
	want = append(want, "not a kernel message", "not a kernel message", "not a kernel message")
	lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	if len(lines) != len(want) {
		t.Fatalf("%d journal lines, want %d", len(lines), len(want))
	}
	for i, l := range lines {
		if got := describe(p.ParseJournalJSON(l)); got != want[i] {
			t.Errorf("journal line %d:\n got  %s\n want %s", i+1, got, want[i])
		}
	}
}

func TestParseJournalJSONBinaryMessage(t *testing.T) {
	p := NewParser("REJECT ", []uint16{4444})
	msg := "REJECT IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 LEN=40 TTL=64 ID=1 PROTO=TCP SPT=1 DPT=4444 SEQ=2 ACK=3 WINDOW=4 RES=0x00 SYN URGP=0"
	var ints []string
	for _, c := range []byte(msg) {
		ints = append(ints, fmt.Sprint(c))
	}
	line := `{"_TRANSPORT":"kernel","MESSAGE":[` + strings.Join(ints, ",") + `]}`
	got := describe(p.ParseJournalJSON([]byte(line)))
	if want := "knock src=10.0.0.1 dpt=4444 id=1 seq=2 ack=3 win=4"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	for _, bad := range []string{`{"_TRANSPORT":"kernel"}`, `{"_TRANSPORT":"kernel","MESSAGE":[300]}`, `not json`} {
		if _, v := p.ParseJournalJSON([]byte(bad)); v != Malformed {
			t.Errorf("%s: verdict %s, want malformed", bad, v)
		}
	}
}

// TestTruncatedKnockRefused cuts a real knock line at every byte before its
// SYN flag: no such prefix may count as a knock.
func TestTruncatedKnockRefused(t *testing.T) {
	p := NewParser("REJECT ", testPorts)
	line := readCases(t)[0].line
	end := strings.Index(line, " SYN")
	for i := 0; i < end; i++ {
		if pkt, v := p.ParseSyslog([]byte(line[:i])); v == Knock {
			t.Fatalf("prefix of %d bytes accepted as %s", i, describe(pkt, v))
		}
	}
}

// firstKnock returns the first line of testdata/syslog.txt that is a knock.
func firstKnock(t testing.TB) testCase {
	t.Helper()
	for _, c := range readCases(t) {
		if strings.HasPrefix(c.want, "knock ") {
			return c
		}
	}
	t.Fatal("no knock in testdata/syslog.txt")
	return testCase{}
}

// TestLoopbackKnockRefused moves a real knock from a veth to lo: the
// kernel line is the same but for IN=, and only lo is refused, since a user
// namespace can log a forged SYN there (see ParseMessage).
func TestLoopbackKnockRefused(t *testing.T) {
	p := NewParser("REJECT ", testPorts)
	line := firstKnock(t).line
	for in, want := range map[string]Verdict{"IN=lo ": Loopback, "IN=eth0 ": Knock, "IN=lo0 ": Knock} {
		l := strings.Replace(line, "IN=vkkA ", in, 1)
		if _, v := p.ParseSyslog([]byte(l)); v != want {
			t.Errorf("%s: verdict %s, want %s", in, v, want)
		}
		msg, _ := kernelMessage([]byte(l))
		if _, v := p.ParseJournalJSON([]byte(`{"_TRANSPORT":"kernel","MESSAGE":` + strconv.Quote(string(msg)) + `}`)); v != want {
			t.Errorf("journal, %s: verdict %s, want %s", in, v, want)
		}
	}
}

func TestOtherPrefix(t *testing.T) {
	p := NewParser("KNOCK: ", testPorts)
	line := firstKnock(t).line
	if _, v := p.ParseSyslog([]byte(line)); v != NoPrefix {
		t.Errorf("verdict %s, want %s", v, NoPrefix)
	}
	knock := strings.Replace(line, "REJECT ", "KNOCK: ", 1)
	if pkt, v := p.ParseSyslog([]byte(knock)); v != Knock || pkt.Src != netip.MustParseAddr("10.77.0.2") {
		t.Errorf("custom prefix: %s", describe(pkt, v))
	}
	var zero Parser
	if _, v := zero.ParseSyslog([]byte(line)); v != NoPrefix {
		t.Errorf("zero Parser: verdict %s, want %s", v, NoPrefix)
	}
}

func TestParseAllocs(t *testing.T) {
	p := NewParser("REJECT ", testPorts)
	for _, c := range readCases(t) {
		line := []byte(c.line)
		if n := testing.AllocsPerRun(10, func() { p.ParseSyslog(line) }); n != 0 {
			t.Errorf("line %d: %v allocs", c.lineNo, n)
		}
	}
}

// TestFormatParseIPv6 round-trips IPv6 packets through FormatSyslog, whose
// line mimics the real ip6tables samples in testdata/syslog.txt.
func TestFormatParseIPv6(t *testing.T) {
	p := NewParser("REJECT ", testPorts)
	for _, src := range []string{"fd00:201:7::1", "2001:db8:ffff:ffff:ffff:ffff:ffff:fffe", "::1:0:0:0"} {
		want := Packet{Src: netip.MustParseAddr(src), DstPort: 4444, ID: 0xabcd, Seq: 1, Ack: 2, Window: 3}
		line := FormatSyslog(time.Date(2026, 11, 6, 9, 8, 7, 0, time.UTC), "host", "REJECT ", want)
		if got, v := p.ParseSyslog([]byte(line)); v != Knock || got != want {
			t.Errorf("%q parsed as %s, want %s", line, describe(got, v), describe(want, Knock))
		}
	}
}
