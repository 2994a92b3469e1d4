package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kk-project/kk/internal/nstest"
	"github.com/kk-project/kk/pkg/knock"
	"github.com/kk-project/kk/pkg/profile"
)

// TestKnockIPv6LoggedByServerKernel runs kk-client against an IPv6 literal
// and checks the server kernel's ip6tables LOG line: FLOWLBL is the knock's
// ID, SEQ, ACK and WINDOW the rest, and the server's verifier reads port 22.
// The profile directory is the default one, ~/.knockknock/<literal>/.
func TestKnockIPv6LoggedByServerKernel(t *testing.T) {
	nstest.RequireRoot(t)
	nstest.EnableLogging(t)
	cli, srv := nstest.New(t, "cli6"), nstest.New(t, "srv6")
	nstest.Link6(t, cli, "fd00:201:8::1/64", srv, "fd00:201:8::2/64")
	knockPort := 20000 + int(randUint16()%20000)
	prefix := "kk6c" + randHex(4) + " "
	srv.Run(t, "ip6tables", "-A", "INPUT", "-p", "tcp", "--dport", strconv.Itoa(knockPort),
		"-j", "LOG", "--log-prefix", prefix, "--log-tcp-sequence")
	srv.Run(t, "ip6tables", "-A", "INPUT", "-p", "tcp", "--dport", strconv.Itoa(knockPort), "-j", "DROP")
	home := t.TempDir()
	if err := os.Mkdir(filepath.Join(home, ".knockknock"), 0o700); err != nil {
		t.Fatal(err)
	}
	p, err := profile.GenerateForGroup(filepath.Join(home, ".knockknock"), "fd00:201:8::2", knockPort, -1)
	if err != nil {
		t.Fatal(err)
	}
	before := counter(t, p)
	kmsg := nstest.OpenKmsg(t)

	out := cli.Run(t, "env", "HOME="+home, kkClient(t), "-p", "22", "-s", "[fd00:201:8::2]")
	if out != "Knock sent.\n" {
		t.Errorf("output %q, want %q", out, "Knock sent.\n")
	}
	lines := kmsg.Collect(t, prefix, 1, 15*time.Second)
	if len(lines) != 1 {
		t.Fatalf("%d LOG lines with prefix %q, want 1", len(lines), prefix)
	}
	t.Logf("LOG line: %s", lines[0])
	used := firstUsableCounter(&p.Keys, before, 22)
	want := knock.Encode(&p.Keys, used, 22)
	got := map[string]string{}
	for _, m := range logField6.FindAllStringSubmatch(lines[0], -1) {
		got[m[1]] = m[2]
	}
	for k, v := range map[string]string{"SRC": "fd00:0201:0008:0000:0000:0000:0000:0001", "LEN": "60",
		"DPT": strconv.Itoa(knockPort), "FLOWLBL": fmt.Sprint(want.ID), "SEQ": fmt.Sprint(want.Seq),
		"ACK": fmt.Sprint(want.Ack), "WINDOW": fmt.Sprint(want.Window)} {
		if got[k] != v {
			t.Errorf("LOG %s=%s, want %s", k, got[k], v)
		}
	}
	if !strings.Contains(lines[0], " SYN ") {
		t.Errorf("LOG line is not a SYN: %s", lines[0])
	}
}

var logField6 = regexp.MustCompile(`\b(SRC|LEN|DPT|FLOWLBL|SEQ|ACK|WINDOW)=(\S+)`)
