package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kk-project/kk/internal/nstest"
	"github.com/kk-project/kk/pkg/knock"
)

// TestKnockLoggedByServerKernel sends a real knock from one namespace to
// another over a veth pair, and reads the server kernel's LOG line: its ID,
// SEQ, ACK and WINDOW must be the encoded knock, and there must be exactly
// one such line.
func TestKnockLoggedByServerKernel(t *testing.T) {
	nstest.RequireRoot(t)
	nstest.EnableLogging(t)
	cli, srv := nstest.New(t, "cli"), nstest.New(t, "srv")
	nstest.Link(t, cli, "10.201.7.1/24", srv, "10.201.7.2/24")
	knockPort := 20000 + int(randUint16()%20000)
	prefix := "kkt" + randHex(4) + " "
	srv.Run(t, "iptables", "-A", "INPUT", "-p", "tcp", "--dport", strconv.Itoa(knockPort),
		"-j", "LOG", "--log-prefix", prefix, "--log-tcp-sequence")
	srv.Run(t, "iptables", "-A", "INPUT", "-p", "tcp", "--dport", strconv.Itoa(knockPort),
		"-j", "REJECT", "--reject-with", "tcp-reset")
	p := newProfile(t, "server", knockPort)
	before := counter(t, p)
	kmsg := nstest.OpenKmsg(t)

	out := cli.Run(t, kkClient(t), "-p", "22", "-s", "10.201.7.2", "-d", p.Dir)
	if out != "Knock sent.\n" {
		t.Errorf("output %q, want %q", out, "Knock sent.\n")
	}
	lines := kmsg.Collect(t, prefix, 1, 15*time.Second)
	// Give a stray second packet time to show up before counting.
	lines = append(lines, kmsg.Collect(t, prefix, 1, time.Second)...)
	if len(lines) != 1 {
		t.Fatalf("%d LOG lines with prefix %q, want exactly 1:\n%s", len(lines), prefix, strings.Join(lines, "\n"))
	}
	t.Logf("LOG line: %s", lines[0])
	used := firstUsableCounter(&p.Keys, before, 22)
	checkLogLine(t, lines[0], knock.Encode(&p.Keys, used, 22), knockPort)
	checkVerifies(t, lines[0], &p.Keys, before, used, 22)
	if after := counter(t, p); after != uint64(used)+1 {
		t.Errorf("counter after the knock is %d, want %d (used %d)", after, used+1, used)
	}
}

// firstUsableCounter mirrors the client's rule: counters whose IP ID would
// be 0 are skipped.
func firstUsableCounter(k *knock.Keys, from uint64, port uint16) uint32 {
	c := uint32(from)
	for knock.Encode(k, c, port).ID == 0 {
		c++
	}
	return c
}

var logField = regexp.MustCompile(`\b(SRC|DST|LEN|ID|SPT|DPT|SEQ|ACK|WINDOW)=(\S+)`)

func checkLogLine(t *testing.T, line string, want knock.Fields, knockPort int) {
	t.Helper()
	got := map[string]string{}
	for _, m := range logField.FindAllStringSubmatch(line, -1) {
		got[m[1]] = m[2]
	}
	expect := map[string]string{
		"SRC": "10.201.7.1", "DST": "10.201.7.2", "LEN": "40", "DPT": strconv.Itoa(knockPort),
		"ID": fmt.Sprint(want.ID), "SEQ": fmt.Sprint(want.Seq), "ACK": fmt.Sprint(want.Ack), "WINDOW": fmt.Sprint(want.Window),
	}
	for k, v := range expect {
		if got[k] != v {
			t.Errorf("LOG %s=%s, want %s\nline: %s", k, got[k], v, line)
		}
	}
	if spt, err := strconv.Atoi(got["SPT"]); err != nil || spt < 1024 {
		t.Errorf("LOG SPT=%s, want an ephemeral port", got["SPT"])
	}
	if !strings.Contains(line, " SYN ") || strings.Contains(line, " ACK ") {
		t.Errorf("LOG flags are not SYN alone: %s", line)
	}
}

// checkVerifies checks that the server side, given only the LOG line, reads
// the request: port 22 with the counter the client used.
func checkVerifies(t *testing.T, line string, k *knock.Keys, from uint64, used uint32, port uint16) {
	t.Helper()
	f, _ := parseLogLine(line)
	v, err := knock.NewVerifier(k, from, 16)
	if err != nil {
		t.Fatal(err)
	}
	gotPort, gotUsed, ok := v.Match(f)
	if !ok || gotPort != port || gotUsed != used {
		t.Errorf("verifier on the logged fields: port %d counter %d ok %v, want port %d counter %d", gotPort, gotUsed, ok, port, used)
	}
}

// parseLogLine returns the knock fields and the source address in a kernel
// LOG line.
func parseLogLine(line string) (f knock.Fields, src string) {
	for _, m := range logField.FindAllStringSubmatch(line, -1) {
		n, _ := strconv.ParseUint(m[2], 10, 32)
		switch m[1] {
		case "SRC":
			src = m[2]
		case "ID":
			f.ID = uint16(n)
		case "SEQ":
			f.Seq = uint32(n)
		case "ACK":
			f.Ack = uint32(n)
		case "WINDOW":
			f.Window = uint16(n)
		}
	}
	return f, src
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func randUint16() uint16 {
	b := make([]byte, 2)
	rand.Read(b)
	return uint16(b[0])<<8 | uint16(b[1])
}
